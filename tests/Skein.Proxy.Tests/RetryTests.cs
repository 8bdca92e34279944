using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Skein.Proxy.Runtime;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests;

/// <summary>Retries as Envoy performs them (route retry_policy), observed through real backends over loopback.</summary>
public sealed class RetryTests : IAsyncLifetime
{
    private ScriptedBackend _a = null!;
    private ScriptedBackend _b = null!;
    private ScriptedBackend _c = null!;
    private TestProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _a = await ScriptedBackend.StartAsync("a");
        _b = await ScriptedBackend.StartAsync("b");
        _c = await ScriptedBackend.StartAsync("c");
        _proxy = await TestProxy.StartExplicitAsync(new SeededRandomSource(11));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        await _c.DisposeAsync();
    }

    [Fact]
    public async Task Retries_BackendFailing30PercentWith503_FewerThanOnePercentFail()
    {
        // 3 of every 10 requests the backend sees fail, spread out (indexes 0, 3, 6): a retry lands on a good one.
        _a.Handler = ScriptedBackend.FailWhen(i => i % 10 is 0 or 3 or 6);
        Configure("one", """{"retry_on": "5xx", "num_retries": 3}""", routeName: "with");
        var withRetries = await CountFailuresAsync(300);
        Configure("one", """{"retry_on": "5xx", "num_retries": 0}""", routeName: "without");
        var withoutRetries = await CountFailuresAsync(300);

        Assert.True(withRetries < 3, $"{withRetries} of 300 failed with retries (want < 1%)");
        Assert.InRange(withoutRetries, 75, 105); // 30% ± 5% of 300
    }

    [Fact]
    public async Task PerTryTimeout_SlowFirstAttempt_RetriedWithinTheRouteTimeout()
    {
        _a.Handler = async (ctx, i) =>
        {
            if (i == 1)
            {
                await Task.Delay(5000, ctx.RequestAborted);
            }
        };
        Configure("one", """{"retry_on": "5xx", "num_retries": 2, "per_try_timeout": "0.5s"}""");
        await WarmUpAsync();
        var watch = Stopwatch.StartNew();

        using var response = await _proxy.SendAsync("svc", "/per-try");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"took {watch.Elapsed}");
        Assert.Equal(3, _a.Count);
        Assert.Equal("1", _a.Seen.Single(s => s.Index == 1).Headers["x-envoy-attempt-count"]);
        Assert.Equal("2", _a.Seen.Single(s => s.Index == 2).Headers["x-envoy-attempt-count"]);
        var entry = await _proxy.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/per-try");
        Assert.Equal("-", entry.GetProperty("response_flags").GetString());
    }

    [Fact]
    public async Task PerTryTimeout_EveryAttemptSlow_504WithUTAndURX()
    {
        _a.Handler = (ctx, i) => i == 0 ? Task.CompletedTask : Task.Delay(5000, ctx.RequestAborted);
        Configure("one", """{"retry_on": "reset", "num_retries": 1, "per_try_timeout": "0.5s"}""");
        await WarmUpAsync();

        using var response = await _proxy.SendAsync("svc", "/per-try-all");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("upstream request timeout", await response.Content.ReadAsStringAsync());
        Assert.Equal(3, _a.Count);
        var entry = await _proxy.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/per-try-all");
        Assert.Equal("UT,URX", entry.GetProperty("response_flags").GetString());
    }

    [Fact]
    public async Task PerTryTimeout_NotInRetryOn_504WithoutRetry()
    {
        _a.Handler = (ctx, i) => i == 0 ? Task.CompletedTask : Task.Delay(5000, ctx.RequestAborted);
        Configure("one", """{"retry_on": "connect-failure", "num_retries": 3, "per_try_timeout": "0.5s"}""");
        await WarmUpAsync();

        using var response = await _proxy.SendAsync("svc", "/per-try-not-retried");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal(2, _a.Count);
    }

    [Fact]
    public async Task RouteTimeout_CoversEveryAttempt_504WithUT()
    {
        _a.Handler = (ctx, i) => i == 0 ? Task.CompletedTask : Task.Delay(5000, ctx.RequestAborted);
        Configure("one", """{"retry_on": "5xx", "num_retries": 10, "per_try_timeout": "0.4s"}""", routeExtra: """, "timeout": "1s" """);
        await WarmUpAsync();
        var watch = Stopwatch.StartNew();

        using var response = await _proxy.SendAsync("svc", "/route-timeout");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(3));
        Assert.InRange(_a.Count - 1, 2, 4); // ~0.4 s each plus back-off within 1 s
        var entry = await _proxy.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/route-timeout");
        Assert.Contains("UT", entry.GetProperty("response_flags").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retriable4xx_Only409IsRetried()
    {
        _a.Handler = (ctx, i) =>
        {
            ctx.Response.StatusCode = ctx.Request.Path == "/conflict" ? (i == 0 ? 409 : 200) : 404;
            return Task.CompletedTask;
        };
        Configure("one", """{"retry_on": "retriable-4xx", "num_retries": 2}""");

        using var conflict = await _proxy.SendAsync("svc", "/conflict");
        var afterConflict = _a.Count;
        using var notFound = await _proxy.SendAsync("svc", "/missing");

        Assert.Equal(HttpStatusCode.OK, conflict.StatusCode);
        Assert.Equal(2, afterConflict);
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        Assert.Equal(3, _a.Count); // 404 went through once
    }

    [Fact]
    public async Task RetriableStatusCodes_OnlyListedCodesAreRetried()
    {
        _a.Handler = (ctx, i) =>
        {
            ctx.Response.StatusCode = i switch { 0 => 418, 1 => 200, _ => 500 };
            return Task.CompletedTask;
        };
        Configure("one", """{"retry_on": "retriable-status-codes", "retriable_status_codes": [418], "num_retries": 3}""");

        using var teapot = await _proxy.SendAsync("svc", "/teapot");
        using var error = await _proxy.SendAsync("svc", "/error");

        Assert.Equal(HttpStatusCode.OK, teapot.StatusCode);
        Assert.Equal(HttpStatusCode.InternalServerError, error.StatusCode);
        Assert.Equal(3, _a.Count);
    }

    [Fact]
    public async Task GrpcUnavailable_TrailersOnly_RetriedAndInternalIsNot()
    {
        await using var grpc = await ScriptedBackend.StartAsync("grpc", http2: true);
        grpc.Handler = (ctx, i) =>
        {
            ctx.Response.ContentType = "application/grpc";
            ctx.Response.Headers["grpc-status"] = ctx.Request.Path == "/svc/Unavailable" ? (i == 0 ? "14" : "0") : "13";
            return Task.CompletedTask;
        };
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80")],
            [XdsConfig.CatchAll("80", "grpc", """, "retry_policy": {"retry_on": "unavailable,cancelled", "num_retries": 2}""")],
            [XdsConfig.StaticCluster("grpc", [grpc.Port], http2: true)]);

        var unavailable = await GrpcCallAsync("/svc/Unavailable");
        var seenAfterFirst = grpc.Count;
        var internalError = await GrpcCallAsync("/svc/Internal");

        Assert.Equal("0", unavailable);
        Assert.Equal(2, seenAfterFirst);
        Assert.Equal("13", internalError);
        Assert.Equal(3, grpc.Count);
    }

    [Fact]
    public async Task PreviousHosts_RetriesNeverRepeatAHostWhileAnotherIsLeft()
    {
        foreach (var b in new[] { _a, _b, _c })
        {
            b.Handler = ScriptedBackend.FailWhen(_ => true);
        }

        // RANDOM picks the same host often; previous_hosts must still spread the attempts.
        Configure("three-random", """
            {"retry_on": "5xx", "num_retries": 2, "host_selection_retry_max_attempts": 1,
             "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts",
               "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}]}
            """);

        for (var i = 0; i < 20; i++)
        {
            using var response = await _proxy.SendAsync("svc", "/all-fail");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal((i + 1, i + 1, i + 1), (_a.Count, _b.Count, _c.Count));
        }
    }

    [Fact]
    public async Task RequestBody_UpToTheBufferLimit_ReplayedOnRetry_LargerNotRetried()
    {
        _a.Handler = ScriptedBackend.FailWhen(_ => true);
        Configure("one", """{"retry_on": "5xx", "num_retries": 2}""");

        using var small = await _proxy.SendAsync("svc", "/small", HttpMethod.Post, r => r.Content = new ByteArrayContent(new byte[100_000]));
        var smallAttempts = _a.Seen.ToList();
        using var large = await _proxy.SendAsync("svc", "/large", HttpMethod.Post, r => r.Content = new ByteArrayContent(new byte[(1024 * 1024) + 1]));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, small.StatusCode);
        Assert.Equal(3, smallAttempts.Count);
        Assert.All(smallAttempts, s => Assert.Equal(100_000, s.BodyLength));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, large.StatusCode);
        var largeAttempts = _a.Seen.Where(s => s.Path == "/large").ToList();
        Assert.Single(largeAttempts);
        Assert.Equal((1024 * 1024) + 1, largeAttempts[0].BodyLength);
    }

    [Fact]
    public async Task RetriesExhausted_LastResponsePassedOnWithURX()
    {
        _a.Handler = (ctx, i) =>
        {
            ctx.Response.StatusCode = 503;
            ctx.Response.Headers["x-attempt"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Task.CompletedTask;
        };
        Configure("one", """{"retry_on": "gateway-error", "num_retries": 2}""");

        using var response = await _proxy.SendAsync("svc", "/exhausted");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("2", response.Headers.GetValues("x-attempt").Single()); // the third attempt's own response
        var entry = await _proxy.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/exhausted");
        Assert.Equal("URX", entry.GetProperty("response_flags").GetString());
        Assert.Equal(1, Cluster("one").RetryLimitExceeded);
    }

    [Fact]
    public async Task ConnectFailure_RetriedOnAnotherHost_FinalFailureHasUFAndURX()
    {
        var dead = FreePort();
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80")],
            [
                XdsConfig.Routes("80", """
                    [{"name": "h", "domains": ["*"], "routes": [
                      {"match": {"prefix": "/mixed"}, "route": {"cluster": "mixed", "retry_policy": {"retry_on": "connect-failure", "num_retries": 1}}},
                      {"match": {"prefix": "/dead"}, "route": {"cluster": "dead", "retry_policy": {"retry_on": "connect-failure", "num_retries": 1}}}]}]
                    """),
            ],
            [
                XdsConfig.StaticCluster("mixed", [dead, _a.Port], extra: """, "lb_policy": "ROUND_ROBIN" """),
                XdsConfig.StaticCluster("dead", [dead]),
            ]);

        for (var i = 0; i < 4; i++)
        {
            using var ok = await _proxy.SendAsync("svc", "/mixed");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var failed = await _proxy.SendAsync("svc", "/dead");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
        var entry = await _proxy.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/dead");
        Assert.Equal("UF,URX", entry.GetProperty("response_flags").GetString());
    }

    [Fact]
    public async Task RetryBudget_CapsConcurrentRetries_OverflowGetsUO()
    {
        var inFlightRetries = 0;
        var maxInFlightRetries = 0;
        _a.Handler = async (ctx, _) =>
        {
            var retry = ctx.Request.Headers["x-envoy-attempt-count"] != "1";
            if (retry)
            {
                var now = Interlocked.Increment(ref inFlightRetries);
                InterlockedMax(ref maxInFlightRetries, now);
            }

            try
            {
                await Task.Delay(300);
                ctx.Response.StatusCode = 503;
            }
            finally
            {
                if (retry)
                {
                    Interlocked.Decrement(ref inFlightRetries);
                }
            }
        };
        Configure("budget", """{"retry_on": "5xx", "num_retries": 3}""");

        var calls = Enumerable.Range(0, 20).Select(async i =>
        {
            using var response = await _proxy.SendAsync("svc", "/budget/" + i);
            return response.StatusCode;
        });
        var statuses = await Task.WhenAll(calls);

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.ServiceUnavailable, s));
        // 20% of at most 20 active requests is 4; at least min_retry_concurrency (3) are always allowed.
        Assert.InRange(maxInFlightRetries, 1, 4);
        Assert.True(_a.Count < 20 * 4, $"{_a.Count} attempts: the budget did not cap retries");
        Assert.True(Cluster("budget").RetryOverflows > 0);
        var flags = _proxy.AccessLog.Entries.Where(e => e.GetProperty("path").GetString()!.StartsWith("/budget/", StringComparison.Ordinal))
            .Select(e => e.GetProperty("response_flags").GetString()).ToList();
        Assert.Contains("UO", flags);
    }

    [Fact]
    public async Task VirtualHostRetryPolicy_AppliesWhenTheRouteHasNone()
    {
        _a.Handler = ScriptedBackend.FailWhen(i => i == 0);
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80")],
            [
                XdsConfig.Routes("80", """
                    [{"name": "h", "domains": ["*"], "retry_policy": {"retry_on": "5xx", "num_retries": 1},
                      "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "one"}}]}]
                    """),
            ],
            [XdsConfig.StaticCluster("one", [_a.Port])]);

        using var response = await _proxy.SendAsync("svc", "/vh");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, _a.Count);
    }

    /// <summary>One quick request first, so that the first real attempt does not pay for the cold connection path.</summary>
    private async Task WarmUpAsync()
    {
        using var response = await _proxy.SendAsync("svc", "/warm-up");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private ClusterRuntime Cluster(string name) => _proxy.Host.Store.Current.Clusters[name].Runtime;

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    private async Task<string> GrpcCallAsync(string path)
    {
        using var client = _proxy.Client(version: HttpVersion.Version20);
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
        };
        request.Headers.Host = "svc";
        request.Headers.TryAddWithoutValidation("te", "trailers");
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        using var response = await client.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        return response.Headers.TryGetValues("grpc-status", out var h) ? h.Single()
            : response.TrailingHeaders.GetValues("grpc-status").Single();
    }

    private async Task<int> CountFailuresAsync(int calls)
    {
        var failures = 0;
        for (var i = 0; i < calls; i++)
        {
            using var response = await _proxy.SendAsync("svc", "/flaky");
            failures += response.StatusCode == HttpStatusCode.OK ? 0 : 1;
        }

        return failures;
    }

    private void Configure(string cluster, string retryPolicy, string routeName = "r", string routeExtra = "")
    {
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80")],
            [
                XdsConfig.Routes("80", $$$"""
                    [{"name": "h", "domains": ["*"], "routes": [{"name": "{{{routeName}}}", "match": {"prefix": "/"},
                      "route": {"cluster": "{{{cluster}}}", "retry_policy": {{{retryPolicy}}} {{{routeExtra}}} }}]}]
                    """),
            ],
            [
                XdsConfig.StaticCluster("one", [_a.Port]),
                XdsConfig.StaticCluster("three-random", [_a.Port, _b.Port, _c.Port], extra: """, "lb_policy": "RANDOM" """),
                XdsConfig.StaticCluster("budget", [_a.Port], extra: """
                    , "circuit_breakers": {"thresholds": [{"max_retries": 1000, "retry_budget": {"budget_percent": {"value": 20}, "min_retry_concurrency": 3}}]}
                    """),
            ]);
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
