using System.Net;
using System.Net.Sockets;
using System.Text;
using Skein.Proxy.Runtime;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests;

/// <summary>Each failure the proxy reports: the status a client sees and the Envoy response flag in the access log.</summary>
public sealed class ResponseFlagTests : IAsyncLifetime
{
    private TestBackend _backend = null!;
    private TestProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _backend = await TestBackend.StartAsync("v1");
        _proxy = await TestProxy.StartExplicitAsync(new SeededRandomSource(7));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task NoRoute_UnmatchedPath_404WithNR()
    {
        Configure("""{"match": {"prefix": "/only"}, "route": {"cluster": "ok"}}""");

        using var response = await _proxy.SendAsync("svc", "/elsewhere");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        await AssertFlagsAsync("/elsewhere", "NR", 404);
    }

    [Fact]
    public async Task NoHealthyUpstream_EmptyCluster_503WithUH()
    {
        Configure("""{"match": {"prefix": "/"}, "route": {"cluster": "empty"}}""");

        using var response = await _proxy.SendAsync("svc", "/uh");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("no healthy upstream", await response.Content.ReadAsStringAsync());
        await AssertFlagsAsync("/uh", "UH", 503);
    }

    [Fact]
    public async Task NoHealthyUpstream_AllEndpointsUnhealthyPanicDisabled_503WithUH()
    {
        Configure("""{"match": {"prefix": "/"}, "route": {"cluster": "unhealthy"}}""");

        using var response = await _proxy.SendAsync("svc", "/unhealthy");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        await AssertFlagsAsync("/unhealthy", "UH", 503);
    }

    [Fact]
    public async Task ConnectFailure_NothingListening_503WithUF()
    {
        Configure("""{"match": {"prefix": "/"}, "route": {"cluster": "dead"}}""");

        using var response = await _proxy.SendAsync("svc", "/uf");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("connection failure", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await AssertFlagsAsync("/uf", "UF", 503);
    }

    [Fact]
    public async Task UpstreamReset_BackendDropsConnection_503WithUR()
    {
        Configure("""{"match": {"prefix": "/"}, "route": {"cluster": "ok"}}""");

        using var response = await _proxy.SendAsync("svc", "/reset");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        await AssertFlagsAsync("/reset", "UR", 503);
    }

    [Fact]
    public async Task UpstreamTimeout_RouteTimeoutExpires_504WithUT()
    {
        Configure("""{"match": {"prefix": "/"}, "route": {"cluster": "ok", "timeout": "0.2s"}}""");
        var started = System.Diagnostics.Stopwatch.StartNew();

        using var response = await _proxy.SendAsync("svc", "/slow?ms=3000");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("upstream request timeout", await response.Content.ReadAsStringAsync());
        Assert.InRange(started.ElapsedMilliseconds, 150, 2500);
        await AssertFlagsAsync("/slow?ms=3000", "UT", 504);
    }

    [Fact]
    public async Task ClusterNotFound_RouteToUnknownCluster_503WithNC()
    {
        Configure("""{"match": {"prefix": "/"}, "route": {"cluster": "no-such-cluster"}}""");

        using var response = await _proxy.SendAsync("svc", "/nc");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        await AssertFlagsAsync("/nc", "NC", 503);
    }

    [Fact]
    public async Task CircuitBreaker_MaxRequestsReached_503WithUO()
    {
        Configure("""{"match": {"prefix": "/"}, "route": {"cluster": "one-at-a-time", "timeout": "0s"}}""");

        var slow = _proxy.SendAsync("svc", "/slow?ms=1500");
        for (var i = 0; i < 200 && _backend.Requests == 0; i++)
        {
            await Task.Delay(10); // until the first request holds the only slot
        }

        using var rejected = await _proxy.SendAsync("svc", "/second");
        using var first = await slow;

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, rejected.StatusCode);
        await AssertFlagsAsync("/second", "UO", 503);
    }

    [Fact]
    public async Task ClientAbort_MidResponse_LoggedAsDownstreamTermination()
    {
        Configure("""{"match": {"prefix": "/"}, "route": {"cluster": "ok", "timeout": "0s"}}""");

        using (var socket = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(IPAddress.Loopback, _proxy.OutboundPort);
            await socket.SendAsync(Encoding.ASCII.GetBytes("GET /bytes?n=500000000 HTTP/1.1\r\nHost: svc\r\n\r\n"));
            var buffer = new byte[65536];
            var received = 0;
            while (received < 1_000_000)
            {
                received += await socket.ReceiveAsync(buffer);
            }

            socket.LingerState = new LingerOption(true, 0); // RST: the client vanishes mid-body
        }

        var entry = await _proxy.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/bytes?n=500000000");
        Assert.Contains("DC", entry.GetProperty("response_flags").GetString()!, StringComparison.Ordinal);
        Assert.InRange(entry.GetProperty("bytes_sent").GetInt64(), 1_000_000, 400_000_000);
    }

    [Fact]
    public async Task SlowClient_ReadsLargeBodySlowly_ReceivesEveryByte()
    {
        Configure("""{"match": {"prefix": "/"}, "route": {"cluster": "ok", "timeout": "0s"}}""");
        using var client = _proxy.Client();
        var request = new HttpRequestMessage(HttpMethod.Get, "/bytes?n=8000000");
        request.Headers.Host = "svc";

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[256 * 1024];
        long total = 0;
        int n;
        var reads = 0;
        while ((n = await body.ReadAsync(buffer)) > 0)
        {
            total += n;
            if (++reads % 4 == 0)
            {
                await Task.Delay(20); // a slow reader: backpressure must hold, not buffer or fail
            }
        }

        Assert.Equal(8_000_000, total);
    }

    [Fact]
    public async Task FaultInjection_AbortAndDelay_InjectedWithFlags()
    {
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80", extraFilters: """{"name": "envoy.filters.http.fault", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"}}""")],
            [XdsConfig.Routes("80", """
                [{"name": "h", "domains": ["*"], "routes": [
                  {"match": {"prefix": "/abort"}, "route": {"cluster": "ok"}, "typed_per_filter_config": {"envoy.filters.http.fault": {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault", "abort": {"http_status": 418, "percentage": {"numerator": 100}}}}},
                  {"match": {"prefix": "/delay"}, "route": {"cluster": "ok"}, "typed_per_filter_config": {"envoy.filters.http.fault": {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault", "delay": {"fixed_delay": "0.3s", "percentage": {"numerator": 100}}}}}
                ]}]
                """)],
            [XdsConfig.StaticCluster("ok", [_backend.Port])]);

        using var aborted = await _proxy.SendAsync("svc", "/abort");
        var started = System.Diagnostics.Stopwatch.StartNew();
        using var delayed = await _proxy.SendAsync("svc", "/delay");

        Assert.Equal(418, (int)aborted.StatusCode);
        Assert.Equal(HttpStatusCode.OK, delayed.StatusCode);
        Assert.True(started.ElapsedMilliseconds >= 280, $"delay was {started.ElapsedMilliseconds} ms");
        await AssertFlagsAsync("/abort", "FI", 418);
        await AssertFlagsAsync("/delay", "DI", 200);
    }

    [Fact]
    public async Task LocalRateLimit_BucketEmpty_429WithRL()
    {
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80", extraFilters: """
                {"name": "envoy.filters.http.local_ratelimit", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                  "stat_prefix": "rl", "token_bucket": {"max_tokens": 2, "tokens_per_fill": 1, "fill_interval": "60s"},
                  "filter_enabled": {"default_value": {"numerator": 100}}, "filter_enforced": {"default_value": {"numerator": 100}},
                  "enable_x_ratelimit_headers": "DRAFT_VERSION_03"}}
                """)],
            [XdsConfig.CatchAll("80", "ok")],
            [XdsConfig.StaticCluster("ok", [_backend.Port])]);

        var codes = new List<int>();
        var remaining = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            using var r = await _proxy.SendAsync("svc", "/rl" + i);
            codes.Add((int)r.StatusCode);
            remaining.Add(string.Join(',', r.Headers.GetValues("x-ratelimit-remaining")));
            Assert.Equal("2", string.Join(',', r.Headers.GetValues("x-ratelimit-limit")));
            Assert.InRange(int.Parse(string.Join(',', r.Headers.GetValues("x-ratelimit-reset")), System.Globalization.CultureInfo.InvariantCulture), 1, 60);
        }

        Assert.Equal([200, 200, 429], codes);
        Assert.Equal(["1", "0", "0"], remaining);
        await AssertFlagsAsync("/rl2", "RL", 429);
    }

    [Fact]
    public async Task Rbac_DenyPolicyMatches_403AccessDenied()
    {
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80", extraFilters: """
                {"name": "envoy.filters.http.rbac", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
                  "rules": {"action": "DENY", "policies": {"ns[default]-policy[deny-admin]-rule[0]": {
                    "permissions": [{"url_path": {"path": {"prefix": "/admin"}}}], "principals": [{"any": true}]}}}}}
                """)],
            [XdsConfig.CatchAll("80", "ok")],
            [XdsConfig.StaticCluster("ok", [_backend.Port])]);

        using var denied = await _proxy.SendAsync("svc", "/admin/users");
        using var allowed = await _proxy.SendAsync("svc", "/public");

        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal("RBAC: access denied", await denied.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        var entry = await AssertFlagsAsync("/admin/users", "RBAC", 403);
        Assert.Equal("rbac_access_denied_matched_policy[ns[default]-policy[deny-admin]-rule[0]]", entry.GetProperty("response_code_details").GetString());
    }

    private void Configure(string route)
    {
        var unusedPort = FreePort();
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80")],
            [XdsConfig.Routes("80", "[{\"name\": \"h\", \"domains\": [\"*\"], \"routes\": [" + route + "]}]")],
            [
                XdsConfig.StaticCluster("ok", [_backend.Port]),
                XdsConfig.StaticCluster("dead", [unusedPort]),
                XdsConfig.EdsCluster("empty"),
                XdsConfig.Parse<Skein.Xds.Envoy.Config.Cluster.V3.Cluster>("""
                    {"name": "unhealthy", "type": "STATIC", "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
                     "load_assignment": {"cluster_name": "unhealthy", "endpoints": [{"lb_endpoints": [
                       {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 1}}}, "health_status": "UNHEALTHY"}]}]}}
                    """),
                XdsConfig.StaticCluster("one-at-a-time", [_backend.Port], extra: """, "circuit_breakers": {"thresholds": [{"max_requests": 1}]}"""),
            ],
            [XdsConfig.Endpoints("empty")]);
    }

    private async Task<System.Text.Json.JsonElement> AssertFlagsAsync(string path, string flags, int status)
    {
        var entry = await _proxy.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == path);
        Assert.Equal(flags, entry.GetProperty("response_flags").GetString());
        Assert.Equal(status, entry.GetProperty("response_code").GetInt32());
        return entry;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
