using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Skein.Proxy.Runtime;
using Skein.Proxy.Tests.Infrastructure;
using XdsCluster = Skein.Xds.Envoy.Config.Cluster.V3.Cluster;

namespace Skein.Proxy.Tests;

/// <summary>Connection pool settings of a cluster (circuit breakers and HTTP protocol options), seen from a real backend.</summary>
public sealed class ConnectionPoolTests : IAsyncLifetime
{
    private ScriptedBackend _backend = null!;
    private TestProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _backend = await ScriptedBackend.StartAsync("pool");
        _proxy = await TestProxy.StartExplicitAsync(new SeededRandomSource(5));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task MaxConnectionsAndPending_Exceeded_503UOAtOnceWithoutQueueing()
    {
        var concurrent = 0;
        var maxConcurrent = 0;
        _backend.Handler = async (ctx, _) =>
        {
            var now = Interlocked.Increment(ref concurrent);
            lock (_backend)
            {
                maxConcurrent = Math.Max(maxConcurrent, now);
            }

            await Task.Delay(1500);
            Interlocked.Decrement(ref concurrent);
        };
        Configure("""
            , "circuit_breakers": {"thresholds": [{"max_connections": 1, "max_pending_requests": 1}]}
            """);
        await WarmUpAsync();

        var calls = Enumerable.Range(0, 10).Select(async i =>
        {
            var watch = Stopwatch.StartNew();
            using var response = await _proxy.SendAsync("svc", "/pool/" + i);
            return (response.StatusCode, watch.Elapsed);
        }).ToList();
        var results = await Task.WhenAll(calls);

        var overflowed = results.Where(r => r.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.Equal(2, results.Count(r => r.StatusCode == HttpStatusCode.OK)); // one connected, one pending
        Assert.Equal(8, overflowed.Count);
        Assert.All(overflowed, r => Assert.True(r.Elapsed < TimeSpan.FromSeconds(1), $"an overflow waited {r.Elapsed}"));
        Assert.Equal(1, maxConcurrent);
        var flags = _proxy.AccessLog.Entries.Where(e => e.GetProperty("path").GetString()!.StartsWith("/pool/", StringComparison.Ordinal))
            .Select(e => e.GetProperty("response_flags").GetString()).ToList();
        Assert.Equal(8, flags.Count(f => f == "UO"));
    }

    [Fact]
    public async Task MaxRequestsPerConnection_Two_EveryOtherRequestOnANewConnection()
    {
        Configure(ProtocolOptions("""{"max_requests_per_connection": 2}"""));

        for (var i = 0; i < 6; i++)
        {
            using var response = await _proxy.SendAsync("svc", "/per-connection");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var ports = _backend.Seen.OrderBy(s => s.Index).Select(s => s.RemotePort).ToList();
        Assert.Equal(3, ports.Distinct().Count());
        Assert.Equal(ports[0], ports[1]);
        Assert.NotEqual(ports[1], ports[2]);
    }

    [Fact]
    public async Task WithoutMaxRequestsPerConnection_SequentialRequestsShareOneConnection()
    {
        Configure(string.Empty);

        for (var i = 0; i < 6; i++)
        {
            using var response = await _proxy.SendAsync("svc", "/reuse");
        }

        Assert.Single(_backend.Seen.Select(s => s.RemotePort).Distinct());
    }

    [Fact]
    public async Task IdleTimeout_IdleConnectionIsClosed_NextRequestOpensANewOne()
    {
        Configure(ProtocolOptions("""{"idle_timeout": "0.3s"}"""));

        using (await _proxy.SendAsync("svc", "/idle")) { }
        using (await _proxy.SendAsync("svc", "/idle")) { }
        await Task.Delay(1500);
        using (await _proxy.SendAsync("svc", "/idle")) { }

        var ports = _backend.Seen.OrderBy(s => s.Index).Select(s => s.RemotePort).ToList();
        Assert.Equal(ports[0], ports[1]); // back to back: reused
        Assert.NotEqual(ports[1], ports[2]); // after the idle timeout: a new connection
    }

    [Fact]
    public async Task ConnectTimeout_PeerNeverAccepts_503UFAfterTheTimeout()
    {
        // A listener whose accept queue is full: the kernel drops further SYNs, so connecting hangs.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var fillers = new List<Socket>();
        for (var i = 0; i < 4; i++)
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            fillers.Add(s);
            _ = s.ConnectAsync(IPAddress.Loopback, port);
        }

        try
        {
            await Task.Delay(200);
            _proxy.Apply(
                [XdsConfig.HttpListener(80, "80")],
                [XdsConfig.CatchAll("80", "hang")],
                [XdsConfig.Parse<XdsCluster>("""
                    {"name": "hang", "type": "STATIC", "connect_timeout": "0.5s",
                     "load_assignment": {"cluster_name": "hang", "endpoints": [{"lb_endpoints": [
                       {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": @P@}}}}]}]}}
                    """.Replace("@P@", port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal))]);
            var watch = Stopwatch.StartNew();

            using var response = await _proxy.SendAsync("svc", "/connect-timeout");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(5));
            var entry = await _proxy.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/connect-timeout");
            Assert.Equal("UF", entry.GetProperty("response_flags").GetString());
        }
        finally
        {
            foreach (var s in fillers)
            {
                s.Dispose();
            }
        }
    }

    private static string ProtocolOptions(string common) => """
        , "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "common_http_protocol_options": @COMMON@,
            "explicit_http_config": {"http_protocol_options": {}}}}
        """.Replace("@COMMON@", common, StringComparison.Ordinal);

    private async Task WarmUpAsync()
    {
        var handler = _backend.Handler;
        _backend.Handler = (ctx, _) => Task.CompletedTask;
        using (await _proxy.SendAsync("svc", "/warm-up")) { }
        _backend.Handler = handler;
    }

    private void Configure(string clusterExtra) => _proxy.Apply(
        [XdsConfig.HttpListener(80, "80")],
        [XdsConfig.CatchAll("80", "pool")],
        [XdsConfig.StaticCluster("pool", [_backend.Port], extra: clusterExtra)]);
}
