using System.Net;
using System.Text.Json;
using Skein.Bookstore.Tests.Infrastructure;

namespace Skein.Bookstore.Tests.Roles;

[Collection(BookstoreMeshCollection.Name)]
public sealed class ReviewsTests(BookstoreMesh mesh)
{
    [Fact]
    public async Task GetReviews_V1_HasVersionHeaderAndNoRatings()
    {
        using var client = Http.Http1();
        using var response = await client.GetAsync(new Uri(mesh.ReviewsV1.Url, "/reviews/1"));
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("v1", response.Header("x-version"));
        Assert.Equal("v1", body.RootElement.GetProperty("version").GetString());
        var reviews = body.RootElement.GetProperty("reviews").EnumerateArray().ToList();
        Assert.Equal(2, reviews.Count);
        Assert.All(reviews, r => Assert.False(r.TryGetProperty("rating", out _)));
        Assert.False(body.RootElement.TryGetProperty("ratingsServedBy", out _));
    }

    [Fact]
    public async Task GetReviews_V2_HasBlackStarsFromRatings()
    {
        using var client = Http.Http1();
        using var response = await client.GetAsync(new Uri(mesh.ReviewsV2.Url, "/reviews/1"));
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal("v2", response.Header("x-version"));
        var root = body.RootElement;
        Assert.Equal("v2", root.GetProperty("version").GetString());
        Assert.Equal("ratings-v1-ratings-1", root.GetProperty("ratingsServedBy").GetString());
        var ratings = root.GetProperty("reviews").EnumerateArray().Select(r => r.GetProperty("rating")).ToList();
        Assert.Equal([5, 4], ratings.Select(r => r.GetProperty("stars").GetInt32()));
        Assert.All(ratings, r => Assert.Equal("black", r.GetProperty("color").GetString()));
    }

    [Fact]
    public async Task GetReviews_V3_HasRedStars()
    {
        using var client = Http.Http1();
        var root = await client.GetJsonAsync(new Uri(mesh.ReviewsV3.Url, "/reviews/2"));

        Assert.Equal("v3", root.GetProperty("version").GetString());
        Assert.All(root.GetProperty("reviews").EnumerateArray(), r => Assert.Equal("red", r.GetProperty("rating").GetProperty("color").GetString()));
    }

    [Fact]
    public async Task GetReviews_PropagatedHeaders_EchoedInResponse()
    {
        using var client = Http.Http1();
        var root = await client.GetJsonAsync(new Uri(mesh.ReviewsV2.Url, "/reviews/1"), ("x-request-id", "r-1"), ("b3", "80f198ee56343ba8-e457b5a2e4d86bd1-1"));

        var seen = root.GetProperty("propagated");
        Assert.Equal("r-1", seen.GetProperty("x-request-id").GetString());
        Assert.Equal("80f198ee56343ba8-e457b5a2e4d86bd1-1", seen.GetProperty("b3").GetString());
    }

    [Fact]
    public async Task GetReviews_NotANumber_Returns400()
    {
        using var client = Http.Http1();
        using var response = await client.GetAsync(new Uri(mesh.ReviewsV1.Url, "/reviews/abc"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task GetReviews_RatingsDown_Answers200WithoutStars()
    {
        await using var reviews = await BookstoreProcess.StartAsync("reviews", new Dictionary<string, string>
        {
            ["VERSION"] = "v2",
            ["RATINGS_URL"] = $"http://127.0.0.1:{BookstoreProcess.ClosedPort()}",
        });
        using var client = Http.Http1();
        var root = await client.GetJsonAsync(new Uri(reviews.Url, "/reviews/1"));

        Assert.Equal("v2", root.GetProperty("version").GetString());
        Assert.Equal("ratings unavailable", root.GetProperty("ratingsError").GetString());
        Assert.All(root.GetProperty("reviews").EnumerateArray(), r => Assert.False(r.TryGetProperty("rating", out _)));
    }
}
