using System.Net;
using Skein.Bookstore.Tests.Infrastructure;

namespace Skein.Bookstore.Tests.Common;

[Collection(BookstoreMeshCollection.Name)]
public sealed class CommonEndpointsTests(BookstoreMesh mesh)
{
    public static TheoryData<string> Roles() => ["frontend", "catalog", "reviews", "ratings"];

    [Theory]
    [MemberData(nameof(Roles))]
    public async Task GetHealthz_EveryRole_Ok(string role)
    {
        using var client = Http.Http1();
        using var response = await client.GetAsync(new Uri(Process(role).Url, "/healthz"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok", await response.Content.ReadAsStringAsync());
        Assert.StartsWith($"{role}-", response.Header("x-served-by"));
    }

    [Theory]
    [MemberData(nameof(Roles))]
    public async Task Echo_EveryRole_ReturnsMethodPathQueryHeadersAndInstance(string role)
    {
        using var client = Http.Http1();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Process(role).Url, "/echo/some/path?a=1&b=two"));
        request.Headers.Add("x-route-me", "canary");
        using var response = await client.SendAsync(request);
        var echo = await client.GetJsonAsync(new Uri(Process(role).Url, "/echo/some/path?a=1&b=two"), ("x-route-me", "canary"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"method\":\"POST\"", await response.Content.ReadAsStringAsync());
        Assert.Equal("GET", echo.GetProperty("method").GetString());
        Assert.Equal("/echo/some/path", echo.GetProperty("path").GetString());
        Assert.Equal("1", echo.GetProperty("query").GetProperty("a").GetString());
        Assert.Equal("two", echo.GetProperty("query").GetProperty("b").GetString());
        Assert.Equal("canary", echo.GetProperty("headers").GetProperty("x-route-me").GetString());
        Assert.Equal(role, echo.GetProperty("role").GetString());
        Assert.Equal(response.Header("x-served-by"), echo.GetProperty("instance").GetString());
    }

    [Fact]
    public async Task PutChaos_FailPercent100_InstanceFailsUntilHealed()
    {
        using var client = Http.Http1();
        var chaos = new Uri(mesh.Catalog.Url, "/chaos");
        try
        {
            using var set = await client.PutAsync(new Uri(chaos, "?failPercent=100&failStatus=500&spread=true"), null);
            using var failing = await client.GetAsync(new Uri(mesh.Catalog.Url, "/echo/x"));
            using var health = await client.GetAsync(new Uri(mesh.Catalog.Url, "/healthz"));
            using var bad = await client.PutAsync(new Uri(chaos, "?failPercent=101"), null);

            Assert.Equal(HttpStatusCode.OK, set.StatusCode);
            Assert.Equal("failPercent=100 failStatus=500 delayMs=0 spread=true\n", await set.Content.ReadAsStringAsync());
            Assert.Equal(HttpStatusCode.InternalServerError, failing.StatusCode);
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }
        finally
        {
            using var heal = await client.PutAsync(chaos, null);
        }

        using var healed = await client.GetAsync(new Uri(mesh.Catalog.Url, "/echo/x"));
        Assert.Equal(HttpStatusCode.OK, healed.StatusCode);
    }

    private BookstoreProcess Process(string role) => role switch
    {
        "frontend" => mesh.Frontend,
        "catalog" => mesh.Catalog,
        "reviews" => mesh.ReviewsV2,
        _ => mesh.Ratings,
    };
}
