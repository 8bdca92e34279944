using System.Diagnostics;
using System.Net;
using Skein.Bookstore.Tests.Infrastructure;

namespace Skein.Bookstore.Tests.Roles;

/// <summary>Frontends whose upstreams are down, failing or slow.</summary>
public sealed class FrontendFailureTests(FrontendFailureTests.Fixture fixture) : IClassFixture<FrontendFailureTests.Fixture>
{
    public sealed class Fixture : ProcessFixture
    {
        /// <summary>Catalog on a closed port; reviews answering 503 to everything.</summary>
        internal BookstoreProcess Broken { get; private set; } = null!;

        /// <summary>Catalog and reviews both slower (3 s) than its upstream timeout (300 ms).</summary>
        internal BookstoreProcess SlowUpstreams { get; private set; } = null!;

        protected override async Task StartAsync()
        {
            var upstreams = await Task.WhenAll(
                Start("reviews", new() { ["VERSION"] = "v1", ["FAIL_PERCENT"] = "100" }),
                Start("catalog", new() { ["DELAY_MS"] = "3000" }));
            var (failing, slow) = (upstreams[0], upstreams[1]);
            var closed = BookstoreProcess.ClosedPort();

            var frontends = await Task.WhenAll(
                Start("frontend", new() { ["CATALOG_URL"] = $"http://127.0.0.1:{closed}", ["REVIEWS_URL"] = failing.Url.ToString() }),
                Start("frontend", new() { ["CATALOG_URL"] = slow.Url.ToString(), ["REVIEWS_URL"] = slow.Url.ToString(), ["UPSTREAM_TIMEOUT_MS"] = "300" }));
            (Broken, SlowUpstreams) = (frontends[0], frontends[1]);
        }
    }

    [Fact]
    public async Task GetPage_CatalogDownReviewsFailing_Answers200WithUnavailable()
    {
        using var client = Http.Http1();
        using var response = await client.GetAsync(fixture.Broken.Url);
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("catalog unavailable", html);
        Assert.Contains("reviews unavailable", html);
        Assert.DoesNotContain("served by", html);
        Assert.Equal("503", response.Header("x-upstream-reviews-status"));
        Assert.Equal("0", response.Header("x-upstream-catalog-status"));
    }

    [Fact]
    public async Task GetProduct_UpstreamsDown_Answers200WithErrors()
    {
        using var client = Http.Http1();
        var product = await client.GetJsonAsync(new Uri(fixture.Broken.Url, "/api/product/1"));

        Assert.Equal("catalog unavailable", product.GetProperty("catalogError").GetString());
        Assert.Equal("reviews unavailable", product.GetProperty("reviews").GetProperty("error").GetString());
        Assert.Equal(503, product.GetProperty("reviews").GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task GetPage_UpstreamsSlowerThanTimeout_AnswersWithinTimeout()
    {
        using var client = Http.Http1();
        var clock = Stopwatch.StartNew();
        using var response = await client.GetAsync(fixture.SlowUpstreams.Url);
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2.5), $"took {clock.Elapsed}");
        Assert.Contains("reviews unavailable", html);
        Assert.Contains("catalog unavailable", html);
        Assert.Equal("0", response.Header("x-upstream-reviews-status"));
    }
}
