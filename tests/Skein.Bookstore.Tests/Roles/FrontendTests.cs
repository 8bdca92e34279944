using System.Net;
using Skein.Bookstore.Tests.Infrastructure;

namespace Skein.Bookstore.Tests.Roles;

[Collection(BookstoreMeshCollection.Name)]
public sealed class FrontendTests(BookstoreMesh mesh)
{
    private const string TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    [Fact]
    public async Task GetPage_WithReviewsV2_NamesServedByV2AndShowsBlackStars()
    {
        using var client = Http.Http1();
        using var response = await client.GetAsync(mesh.Frontend.Url);
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/html", response.Content.Headers.ContentType?.ToString());
        Assert.Contains("served by reviews-v2", html);
        Assert.Contains("The Comedy of Errors", html);
        Assert.Contains("Moby-Dick", html);
        Assert.Contains("★★★★★", html);
        Assert.Contains("★★★★☆", html);
        Assert.Contains("color: black", html);
        Assert.DoesNotContain("unavailable", html);
        Assert.Equal("200", response.Header("x-upstream-reviews-status"));
        Assert.Equal("200", response.Header("x-upstream-catalog-status"));
        Assert.Equal("reviews-v2-reviews-2", response.Header("x-upstream-reviews-served-by"));
        Assert.Equal("frontend-v1-frontend-1", response.Header("x-served-by"));
    }

    [Fact]
    public async Task GetPage_WithReviewsV1_NamesServedByV1AndShowsNoStars()
    {
        using var client = Http.Http1();
        var html = await client.GetStringAsync(mesh.FrontendV1.Url);

        Assert.Contains("served by reviews-v1", html);
        Assert.Contains("Reviewer1", html);
        Assert.DoesNotContain("★", html);
        Assert.DoesNotContain("unavailable", html);
    }

    [Fact]
    public async Task GetPage_IdQuery_ShowsReviewsOfThatBook()
    {
        using var client = Http.Http1();
        var html = await client.GetStringAsync(new Uri(mesh.Frontend.Url, "/?id=3"));

        Assert.Contains("Reviews of Middlemarch", html);
    }

    [Fact]
    public async Task GetPage_OverH2cPriorKnowledge_Answers()
    {
        using var client = Http.H2c();
        using var response = await client.GetAsync(mesh.Frontend.Url);

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Contains("served by reviews-v2", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task GetProduct_ReviewsV2_ReturnsBookVersionAndRatings()
    {
        using var client = Http.Http1();
        var product = await client.GetJsonAsync(new Uri(mesh.Frontend.Url, "/api/product/2"));

        Assert.Equal("Moby-Dick", product.GetProperty("book").GetProperty("title").GetString());
        var reviews = product.GetProperty("reviews");
        Assert.Equal("v2", reviews.GetProperty("version").GetString());
        Assert.Equal(5, reviews.GetProperty("ratings").GetProperty("Reviewer1").GetInt32());
        Assert.Equal(4, reviews.GetProperty("ratings").GetProperty("Reviewer2").GetInt32());
        Assert.Equal("black", reviews.GetProperty("color").GetString());
        Assert.Equal(200, reviews.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task GetProduct_ReviewsV1_ReturnsNoRatings()
    {
        using var client = Http.Http1();
        var product = await client.GetJsonAsync(new Uri(mesh.FrontendV1.Url, "/api/product/1"));

        var reviews = product.GetProperty("reviews");
        Assert.Equal("v1", reviews.GetProperty("version").GetString());
        Assert.False(reviews.TryGetProperty("ratings", out _));
    }

    [Fact]
    public async Task GetProduct_UnknownBook_Returns404()
    {
        using var client = Http.Http1();
        using var response = await client.GetAsync(new Uri(mesh.Frontend.Url, "/api/product/99"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task GetProduct_TracingHeaders_PropagatedToReviews()
    {
        using var client = Http.Http1();
        var product = await client.GetJsonAsync(
            new Uri(mesh.Frontend.Url, "/api/product/1"),
            ("x-request-id", "req-42"),
            ("traceparent", TraceParent),
            ("tracestate", "vendor=1"),
            ("x-b3-traceid", "463ac35c9f6413ad"),
            ("x-b3-sampled", "1"),
            ("end-user", "jason"),
            ("user-agent", "skein-tests/1"),
            ("x-not-propagated", "nope"));

        var seen = product.GetProperty("reviews").GetProperty("propagated");
        Assert.Equal("req-42", seen.GetProperty("x-request-id").GetString());
        Assert.Equal(TraceParent, seen.GetProperty("traceparent").GetString());
        Assert.Equal("vendor=1", seen.GetProperty("tracestate").GetString());
        Assert.Equal("463ac35c9f6413ad", seen.GetProperty("x-b3-traceid").GetString());
        Assert.Equal("1", seen.GetProperty("x-b3-sampled").GetString());
        Assert.Equal("jason", seen.GetProperty("end-user").GetString());
        Assert.False(seen.TryGetProperty("user-agent", out _));
        Assert.False(seen.TryGetProperty("x-not-propagated", out _));
    }

    [Fact]
    public async Task GetProduct_NoTraceHeaders_AppInventsNone()
    {
        using var client = Http.Http1();
        var product = await client.GetJsonAsync(new Uri(mesh.Frontend.Url, "/api/product/1"));

        var seen = product.GetProperty("reviews").GetProperty("propagated");
        Assert.False(seen.TryGetProperty("traceparent", out _)); // the sidecars own the trace context
        Assert.False(seen.TryGetProperty("tracestate", out _));
    }

    [Fact]
    public async Task GetProduct_UserQuery_SetsEndUser()
    {
        using var client = Http.Http1();
        var product = await client.GetJsonAsync(new Uri(mesh.Frontend.Url, "/api/product/1?user=jason"));

        Assert.Equal("jason", product.GetProperty("reviews").GetProperty("propagated").GetProperty("end-user").GetString());
    }

    [Fact]
    public async Task GetProduct_UserCookie_SetsEndUserAndForwardsCookie()
    {
        using var client = Http.Http1();
        var product = await client.GetJsonAsync(new Uri(mesh.Frontend.Url, "/api/product/1"), ("cookie", "theme=dark; user=maria"));

        var seen = product.GetProperty("reviews").GetProperty("propagated");
        Assert.Equal("maria", seen.GetProperty("end-user").GetString());
        Assert.Equal("theme=dark; user=maria", seen.GetProperty("cookie").GetString());
    }

    [Fact]
    public async Task GetProduct_EndUserHeaderAndQuery_HeaderWins()
    {
        using var client = Http.Http1();
        var product = await client.GetJsonAsync(new Uri(mesh.Frontend.Url, "/api/product/1?user=query"), ("end-user", "header"));

        Assert.Equal("header", product.GetProperty("reviews").GetProperty("propagated").GetProperty("end-user").GetString());
    }

    [Fact]
    public async Task GetPage_UserQuery_SetsUserCookieAndShowsUser()
    {
        using var client = Http.Http1();
        using var response = await client.GetAsync(new Uri(mesh.Frontend.Url, "/?user=jason"));

        Assert.Contains(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith("user=jason", StringComparison.Ordinal));
        Assert.Contains("Signed in as jason", await response.Content.ReadAsStringAsync());
    }
}
