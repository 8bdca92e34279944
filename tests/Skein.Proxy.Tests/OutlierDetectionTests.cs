using System.Globalization;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using Skein.Proxy.Admin;
using Skein.Proxy.Runtime;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests;

/// <summary>
/// Outlier detection (Envoy's consecutive 5xx / gateway / local origin ejection), with the proxy's clock faked so
/// that ejection times are exact: time only moves when a test advances it.
/// </summary>
public sealed class OutlierDetectionTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly List<ScriptedBackend> _backends = [];
    private TestProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        for (var i = 0; i < 4; i++)
        {
            _backends.Add(await ScriptedBackend.StartAsync("b" + i));
        }

        _proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit }, new SeededRandomSource(3), time: _time);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        foreach (var b in _backends)
        {
            await b.DisposeAsync();
        }
    }

    [Fact]
    public async Task Consecutive5xx_HostEjectedForBaseEjectionTime_ThenBackOnTheIntervalTimer()
    {
        var (bad, good) = (_backends[0], _backends[1]);
        bad.Handler = ScriptedBackend.FailWhen(_ => true, 500);
        Configure([bad, good], """{"consecutive_5xx": 3, "interval": "1s", "base_ejection_time": "10s", "max_ejection_percent": 50}""");

        await SendAsync(20);
        Assert.Equal(3, bad.Count); // round robin: every other request until the third 5xx
        Assert.Contains("::health_flags::/failed_outlier_check", ClustersText(bad), StringComparison.Ordinal);

        Advance(TimeSpan.FromSeconds(9));
        await SendAsync(10);
        Assert.Equal(3, bad.Count);

        Advance(TimeSpan.FromSeconds(1));
        Assert.Contains("::health_flags::healthy", ClustersText(bad), StringComparison.Ordinal);
        await SendAsync(2);
        Assert.Equal(4, bad.Count);
    }

    [Fact]
    public async Task Ejection_GrowsWithEachEjection_BaseTimesEjectionCount()
    {
        var (bad, good) = (_backends[0], _backends[1]);
        bad.Handler = ScriptedBackend.FailWhen(_ => true, 500);
        Configure([bad, good], """{"consecutive_5xx": 2, "interval": "1s", "base_ejection_time": "10s", "max_ejection_percent": 50}""");

        await SendAsync(10); // first ejection: 10 s
        Advance(TimeSpan.FromSeconds(10));
        await SendAsync(10); // back, fails twice more: second ejection, 20 s
        var afterSecond = bad.Count;
        Assert.Equal(4, afterSecond);

        Advance(TimeSpan.FromSeconds(10));
        await SendAsync(10);
        Assert.Equal(afterSecond, bad.Count); // still out after 10 s

        Advance(TimeSpan.FromSeconds(10));
        await SendAsync(2);
        Assert.True(bad.Count > afterSecond, "the host did not come back after 2 × base_ejection_time");
        var state = _proxy.Host.Store.Current.Clusters["outliers"].Endpoints.All.Single(e => e.Port == bad.Port).Stats.Outlier;
        Assert.True(state.NumEjections >= 2);
    }

    [Fact]
    public async Task MaxEjectionPercent_CapsHowManyHostsAreOut()
    {
        foreach (var b in _backends)
        {
            b.Handler = ScriptedBackend.FailWhen(_ => true, 500);
        }

        Configure(_backends, """{"consecutive_5xx": 1, "interval": "1s", "base_ejection_time": "30s", "max_ejection_percent": 50}""");

        await SendAsync(40);

        var text = AdminEndpoints.Clusters(_proxy.Host.Store.Current);
        Assert.Equal(2, CountOccurrences(text, "/failed_outlier_check"));
        Assert.Equal(2, Runtime().Outlier!.EjectionsActive);
        Assert.True(Runtime().Outlier!.EjectionsOverflow > 0);
    }

    [Fact]
    public async Task Panic_EveryHostEjected_TrafficStillReachesAllHosts()
    {
        var (a, b) = (_backends[0], _backends[1]);
        a.Handler = ScriptedBackend.FailWhen(_ => true, 500);
        b.Handler = ScriptedBackend.FailWhen(_ => true, 500);
        Configure([a, b], """{"consecutive_5xx": 1, "interval": "1s", "base_ejection_time": "30s", "max_ejection_percent": 100}""", panicThreshold: 50);

        await SendAsync(4);
        Assert.Equal(2, Runtime().Outlier!.EjectionsActive);
        var before = a.Count + b.Count;
        var statuses = await SendAsync(10);

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.InternalServerError, s)); // the hosts' own answers, not 503 UH
        Assert.Equal(before + 10, a.Count + b.Count);
        Assert.True(_proxy.Host.Store.Current.Clusters["outliers"].Endpoints.Panic);
    }

    [Fact]
    public async Task PanicDisabled_EveryHostEjected_503NoHealthyUpstream()
    {
        var (a, b) = (_backends[0], _backends[1]);
        a.Handler = ScriptedBackend.FailWhen(_ => true, 500);
        b.Handler = ScriptedBackend.FailWhen(_ => true, 500);
        Configure([a, b], """{"consecutive_5xx": 1, "interval": "1s", "base_ejection_time": "30s", "max_ejection_percent": 100}""", panicThreshold: 0);

        await SendAsync(2); // one 500 from each: both ejected
        using var response = await _proxy.SendAsync("svc", "/uh");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("no healthy upstream", await response.Content.ReadAsStringAsync());
        Assert.Equal(2, a.Count + b.Count);
    }

    [Fact]
    public async Task ConsecutiveGatewayFailure_Enforced_Only502To504Count()
    {
        var (gateway, good) = (_backends[0], _backends[1]);
        gateway.Handler = (ctx, i) =>
        {
            ctx.Response.StatusCode = i < 2 ? 500 : 502; // two 500s do not count as gateway failures
            return Task.CompletedTask;
        };
        Configure([gateway, good], """
            {"consecutive_5xx": 100, "consecutive_gateway_failure": 2, "enforcing_consecutive_gateway_failure": 100,
             "interval": "1s", "base_ejection_time": "30s", "max_ejection_percent": 50}
            """);

        await SendAsync(20);

        Assert.Equal(4, gateway.Count); // 500, 500, 502, 502 → ejected
    }

    [Fact]
    public async Task LocalOriginFailures_SplitMode_DeadHostEjectedAfterConnectFailures()
    {
        var good = _backends[0];
        var dead = FreePort();
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80")],
            [XdsConfig.CatchAll("80", "outliers")],
            [
                XdsConfig.Parse<Skein.Xds.Envoy.Config.Cluster.V3.Cluster>("""
                    {"name": "outliers", "type": "STATIC", "connect_timeout": "1s", "lb_policy": "ROUND_ROBIN",
                     "outlier_detection": {"split_external_local_origin_errors": true, "consecutive_local_origin_failure": 2,
                       "consecutive_5xx": 100, "interval": "1s", "base_ejection_time": "30s", "max_ejection_percent": 50},
                     "load_assignment": {"cluster_name": "outliers", "endpoints": [{"lb_endpoints": [
                       {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": @DEAD@ }}}},
                       {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": @GOOD@ }}}}]}]}}
                    """.Replace("@DEAD@", dead.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
                    .Replace("@GOOD@", good.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)),
            ]);

        var statuses = await SendAsync(12);

        Assert.Equal(2, statuses.Count(s => s == HttpStatusCode.ServiceUnavailable)); // two connect failures, then ejected
        Assert.All(statuses.Skip(4), s => Assert.Equal(HttpStatusCode.OK, s));
    }

    private ClusterRuntime Runtime() => _proxy.Host.Store.Current.Clusters["outliers"].Runtime;

    private string ClustersText(ScriptedBackend backend) =>
        string.Join("\n", AdminEndpoints.Clusters(_proxy.Host.Store.Current).Split('\n')
            .Where(l => l.StartsWith($"outliers::127.0.0.1:{backend.Port}::", StringComparison.Ordinal)));

    private static int CountOccurrences(string text, string value) =>
        (text.Length - text.Replace(value, string.Empty, StringComparison.Ordinal).Length) / value.Length;

    private void Advance(TimeSpan by)
    {
        // One interval at a time, so that every interval timer tick runs as it would in real time.
        for (var t = TimeSpan.Zero; t < by; t += TimeSpan.FromSeconds(1))
        {
            _time.Advance(TimeSpan.FromSeconds(1));
        }
    }

    private async Task<List<HttpStatusCode>> SendAsync(int count)
    {
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < count; i++)
        {
            using var response = await _proxy.SendAsync("svc", "/");
            statuses.Add(response.StatusCode);
        }

        return statuses;
    }

    private void Configure(IReadOnlyList<ScriptedBackend> backends, string outlier, int panicThreshold = 0)
    {
        var endpoints = string.Join(",", backends.Select(b =>
            """{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": @P@ }}}}""".Replace("@P@", b.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)));
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80")],
            [XdsConfig.CatchAll("80", "outliers")],
            [
                XdsConfig.Parse<Skein.Xds.Envoy.Config.Cluster.V3.Cluster>("""
                    {"name": "outliers", "type": "STATIC", "connect_timeout": "1s", "lb_policy": "ROUND_ROBIN",
                     "common_lb_config": {"healthy_panic_threshold": {"value": @PANIC@ }},
                     "outlier_detection": @OUTLIER@,
                     "load_assignment": {"cluster_name": "outliers", "endpoints": [{"lb_endpoints": [@ENDPOINTS@]}]}}
                    """.Replace("@PANIC@", panicThreshold.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
                    .Replace("@OUTLIER@", outlier, StringComparison.Ordinal)
                    .Replace("@ENDPOINTS@", endpoints, StringComparison.Ordinal)),
            ]);
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
