using System.Diagnostics;
using System.Net;
using Skein.Bookstore.Tests.Infrastructure;

namespace Skein.Bookstore.Tests.Common;

/// <summary>Chaos knobs, x-served-by and the request log, on real processes.</summary>
public sealed class BookstoreMiddlewareTests(BookstoreMiddlewareTests.Fixture fixture) : IClassFixture<BookstoreMiddlewareTests.Fixture>
{
    public sealed class Fixture : ProcessFixture
    {
        /// <summary>FAIL_PERCENT=100 FAIL_STATUS=500: answers only 500.</summary>
        internal BookstoreProcess Failing { get; private set; } = null!;

        /// <summary>FAIL_PERCENT=50.</summary>
        internal BookstoreProcess Flaky { get; private set; } = null!;

        /// <summary>DELAY_MS=300, --quiet.</summary>
        internal BookstoreProcess Slow { get; private set; } = null!;

        /// <summary>No chaos; logs every request.</summary>
        internal BookstoreProcess Plain { get; private set; } = null!;

        protected override async Task StartAsync()
        {
            var all = await Task.WhenAll(
                Start("catalog", new() { ["INSTANCE"] = "failing", ["FAIL_PERCENT"] = "100", ["FAIL_STATUS"] = "500" }),
                Start("catalog", new() { ["INSTANCE"] = "flaky", ["FAIL_PERCENT"] = "50" }),
                Start("catalog", new() { ["INSTANCE"] = "slow", ["DELAY_MS"] = "300" }, "--quiet"),
                Start("reviews", new() { ["INSTANCE"] = "plain", ["VERSION"] = "v1" }));
            (Failing, Flaky, Slow, Plain) = (all[0], all[1], all[2], all[3]);
        }
    }

    [Fact]
    public async Task Get_FailPercent100Status500_OnlyReturns500()
    {
        using var client = Http.Http1();
        var statuses = new List<HttpStatusCode>();
        foreach (var path in Enumerable.Repeat("/books", 20).Concat(["/books/1", "/echo", "/nope"]))
        {
            using var response = await client.GetAsync(new Uri(fixture.Failing.Url, path));
            statuses.Add(response.StatusCode);
            Assert.Equal("injected", response.Header("x-bookstore-fault"));
        }

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.InternalServerError, s));
    }

    [Fact]
    public async Task GetHealthz_FailPercent100_StillOk()
    {
        using var client = Http.Http1();
        using var response = await client.GetAsync(new Uri(fixture.Failing.Url, "/healthz"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Get_FailHeaderZero_OverridesFailPercent()
    {
        using var client = Http.Http1();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(fixture.Failing.Url, "/books"));
        request.Headers.Add("x-bookstore-fail", "0");
        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Get_FailPercent50_ReturnsBothOutcomes()
    {
        using var client = Http.Http1();
        var statuses = new HashSet<HttpStatusCode>();
        for (var i = 0; i < 100 && statuses.Count < 2; i++)
        {
            using var response = await client.GetAsync(new Uri(fixture.Flaky.Url, "/books"));
            statuses.Add(response.StatusCode);
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.ServiceUnavailable], statuses.Order());
    }

    [Theory]
    [InlineData("503", HttpStatusCode.ServiceUnavailable)]
    [InlineData("500", HttpStatusCode.InternalServerError)]
    [InlineData("429", HttpStatusCode.TooManyRequests)]
    public async Task Get_FailHeader_ReturnsThatStatus(string header, HttpStatusCode expected)
    {
        using var client = Http.Http1();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(fixture.Plain.Url, "/reviews/1"));
        request.Headers.Add("x-bookstore-fail", header);
        using var response = await client.SendAsync(request);

        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("reviews-v1-plain", response.Header("x-served-by"));
    }

    [Fact]
    public async Task Get_InvalidFailHeader_Returns400()
    {
        using var client = Http.Http1();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(fixture.Plain.Url, "/reviews/1"));
        request.Headers.Add("x-bookstore-fail", "lots");
        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Get_DelayHeader_AddsLatency()
    {
        using var client = Http.Http1();
        await client.GetAsync(new Uri(fixture.Plain.Url, "/healthz")); // warm the connection
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(fixture.Plain.Url, "/reviews/1"));
        request.Headers.Add("x-bookstore-delay-ms", "250");
        var clock = Stopwatch.StartNew();
        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(240), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Get_DelayMsEnvironment_AddsLatency()
    {
        using var client = Http.Http1();
        var clock = Stopwatch.StartNew();
        using var response = await client.GetAsync(new Uri(fixture.Slow.Url, "/books"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(290), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Get_AnyPath_CarriesServedBy()
    {
        using var client = Http.Http1();
        using var ok = await client.GetAsync(new Uri(fixture.Plain.Url, "/reviews/1"));
        using var missing = await client.GetAsync(new Uri(fixture.Plain.Url, "/missing"));
        using var failed = await client.GetAsync(new Uri(fixture.Failing.Url, "/books"));

        Assert.Equal("reviews-v1-plain", ok.Header("x-served-by"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("reviews-v1-plain", missing.Header("x-served-by"));
        Assert.Equal("catalog-v1-failing", failed.Header("x-served-by"));
    }

    [Fact]
    public async Task Get_Request_LogsOneShortLine()
    {
        using var client = Http.Http1();
        using var response = await client.GetAsync(new Uri(fixture.Plain.Url, "/reviews/2?x=1"));

        Assert.True(
            await fixture.Plain.WaitForOutputAsync(l => l.StartsWith("GET /reviews/2 200 ", StringComparison.Ordinal) && l.EndsWith("ms", StringComparison.Ordinal), TimeSpan.FromSeconds(10)),
            string.Join('\n', fixture.Plain.Output));
    }

    [Fact]
    public async Task Get_Quiet_LogsNoRequestLines()
    {
        using var client = Http.Http1();
        using var response = await client.GetAsync(new Uri(fixture.Slow.Url, "/books/1"));
        await Task.Delay(300);

        Assert.DoesNotContain(fixture.Slow.Output, l => l.StartsWith("GET ", StringComparison.Ordinal));
    }
}
