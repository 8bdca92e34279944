using System.Net;
using Skein.Proxy.Runtime;
using Skein.Proxy.Tests.Infrastructure;
using Skein.Xds;

namespace Skein.Proxy.Tests;

/// <summary>The ADS client against a scripted in-test ADS server: subscription order, ACK, NACK, reconnect.</summary>
public sealed class AdsClientTests
{
    private const string Cluster = "outbound|9080||backend.default.svc.cluster.local";

    [Fact]
    public async Task Subscribe_FirstStream_CdsThenEdsThenLdsThenRdsAckedAndServed()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var ads = new TestAdsServer();
        await ads.StartAsync();
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, XdsAddress = ads.Address, NodeId = "sidecar~10.0.0.1~app.default~default.svc.cluster.local" });

        var cds = await ads.NextAnyAsync();
        Assert.Equal(TypeUrls.Cluster, cds.TypeUrl);
        Assert.Equal("sidecar~10.0.0.1~app.default~default.svc.cluster.local", cds.Node.Id);
        Assert.Empty(cds.ResourceNames);
        Assert.False(proxy.Host.Store.IsReady);

        var n1 = await ads.SendAsync(TypeUrls.Cluster, "c1", XdsConfig.EdsCluster(Cluster));
        var cdsAck = await ads.NextAsync(TypeUrls.Cluster);
        var eds = await ads.NextAsync(TypeUrls.ClusterLoadAssignment);
        Assert.Equal(("c1", n1), (cdsAck.VersionInfo, cdsAck.ResponseNonce));
        Assert.Null(cdsAck.ErrorDetail);
        Assert.Null(eds.Node); // node only on the first request of a stream
        Assert.Equal([Cluster], eds.ResourceNames);

        var n2 = await ads.SendAsync(TypeUrls.ClusterLoadAssignment, "e1", XdsConfig.Endpoints(Cluster, backend.Port));
        var edsAck = await ads.NextAsync(TypeUrls.ClusterLoadAssignment);
        var lds = await ads.NextAsync(TypeUrls.Listener);
        Assert.Equal(("e1", n2), (edsAck.VersionInfo, edsAck.ResponseNonce));
        Assert.Empty(lds.ResourceNames);

        var n3 = await ads.SendAsync(TypeUrls.Listener, "l1", XdsConfig.HttpListener(9080, "9080"));
        var ldsAck = await ads.NextAsync(TypeUrls.Listener);
        var rds = await ads.NextAsync(TypeUrls.RouteConfiguration);
        Assert.Equal(("l1", n3), (ldsAck.VersionInfo, ldsAck.ResponseNonce));
        Assert.Equal(["9080"], rds.ResourceNames);
        Assert.False(proxy.Host.Store.IsReady); // the listener's routes are still missing: nothing applied yet

        var n4 = await ads.SendAsync(TypeUrls.RouteConfiguration, "r1", XdsConfig.CatchAll("9080", Cluster));
        var rdsAck = await ads.NextAsync(TypeUrls.RouteConfiguration);
        Assert.Equal(("r1", n4), (rdsAck.VersionInfo, rdsAck.ResponseNonce));

        using var response = await proxy.SendAsync("backend:9080", "/");
        Assert.Equal("v1", response.Headers.GetValues("x-backend").Single());
        Assert.True(proxy.Host.Store.IsReady);
    }

    [Fact]
    public async Task Nack_BadRouteRegex_ErrorDetailSentAndOldRoutesStillServed()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var ads = new TestAdsServer();
        await ads.StartAsync();
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, XdsAddress = ads.Address });
        await ServeFullConfigAsync(ads, backend.Port);

        var bad = XdsConfig.Routes("9080", """[{"name": "h", "domains": ["*"], "routes": [{"match": {"safe_regex": {"regex": "/items/(["}}, "route": {"cluster": "x"}}]}]""");
        var nonce = await ads.SendAsync(TypeUrls.RouteConfiguration, "r2", bad);
        var nack = await ads.NextAsync(TypeUrls.RouteConfiguration);

        Assert.Equal("r1", nack.VersionInfo); // still on the last good version
        Assert.Equal(nonce, nack.ResponseNonce);
        Assert.Equal(3, nack.ErrorDetail.Code);
        Assert.Contains("invalid regex", nack.ErrorDetail.Message, StringComparison.Ordinal);
        Assert.Contains("route_configuration \"9080\"", nack.ErrorDetail.Message, StringComparison.Ordinal);
        using var response = await proxy.SendAsync("backend:9080", "/still-works");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("v1", response.Headers.GetValues("x-backend").Single());
    }

    [Fact]
    public async Task Nack_UnknownHttpFilterType_ListenerRejectedAndConfigKept()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var ads = new TestAdsServer();
        await ads.StartAsync();
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, XdsAddress = ads.Address });
        await ServeFullConfigAsync(ads, backend.Port);

        var listener = XdsConfig.HttpListener(9080, "9080");
        var hcm = listener.FilterChains[0].Filters[0].TypedConfig.Unpack<Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManager>();
        hcm.HttpFilters.Insert(0, new Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3.HttpFilter
        {
            Name = "mystery",
            TypedConfig = new Google.Protobuf.WellKnownTypes.Any { TypeUrl = "type.googleapis.com/acme.Unknown" },
        });
        listener.FilterChains[0].Filters[0].TypedConfig = XdsAny.Pack(hcm);
        await ads.SendAsync(TypeUrls.Listener, "l2", listener);
        var nack = await ads.NextAsync(TypeUrls.Listener);

        Assert.Equal("l1", nack.VersionInfo);
        Assert.Contains("unknown HTTP filter type type.googleapis.com/acme.Unknown", nack.ErrorDetail.Message, StringComparison.Ordinal);
        using var response = await proxy.SendAsync("backend:9080", "/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Reconnect_ServerRestarts_ResubscribesWithLastVersionsAndAppliesNewConfig()
    {
        await using var v1 = await TestBackend.StartAsync("v1");
        await using var v2 = await TestBackend.StartAsync("v2");
        await using var ads = new TestAdsServer();
        await ads.StartAsync();
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, XdsAddress = ads.Address });
        await ServeFullConfigAsync(ads, v1.Port);
        var port = ads.Port;

        await ads.StopAsync();
        using (var during = await proxy.SendAsync("backend:9080", "/while-down"))
        {
            Assert.Equal("v1", during.Headers.GetValues("x-backend").Single()); // last config keeps serving
        }

        await ads.StartAsync(port);
        var cds = await ads.NextAsync(TypeUrls.Cluster);
        Assert.NotNull(cds.Node); // a new stream starts with the node again
        Assert.Equal("c1", cds.VersionInfo);
        Assert.True(proxy.Host.Ads!.StreamsOpened >= 2);

        await ads.SendAsync(TypeUrls.Cluster, "c2", XdsConfig.EdsCluster(Cluster));
        await ads.SendAsync(TypeUrls.ClusterLoadAssignment, "e2", XdsConfig.Endpoints(Cluster, v2.Port));
        await WaitUntilAsync(async () =>
        {
            using var r = await proxy.SendAsync("backend:9080", "/after");
            return r.Headers.TryGetValues("x-backend", out var b) && b.Single() == "v2";
        });
    }

    [Fact]
    public void Backoff_Attempts_GrowFrom500msAndCapAt30s()
    {
        var random = new SeededRandomSource(1);

        var first = Skein.Proxy.Discovery.AdsClient.Backoff(0, random);
        var third = Skein.Proxy.Discovery.AdsClient.Backoff(2, random);
        var late = Skein.Proxy.Discovery.AdsClient.Backoff(30, random);

        Assert.InRange(first.TotalMilliseconds, 250, 500);
        Assert.InRange(third.TotalMilliseconds, 1000, 2000);
        Assert.InRange(late.TotalMilliseconds, 15000, 30000);
    }

    private static async Task ServeFullConfigAsync(TestAdsServer ads, int backendPort)
    {
        await ads.NextAsync(TypeUrls.Cluster);
        await ads.SendAsync(TypeUrls.Cluster, "c1", XdsConfig.EdsCluster(Cluster));
        await ads.NextAsync(TypeUrls.ClusterLoadAssignment);
        await ads.SendAsync(TypeUrls.ClusterLoadAssignment, "e1", XdsConfig.Endpoints(Cluster, backendPort));
        await ads.NextAsync(TypeUrls.Listener);
        await ads.SendAsync(TypeUrls.Listener, "l1", XdsConfig.HttpListener(9080, "9080"));
        await ads.NextAsync(TypeUrls.RouteConfiguration);
        await ads.SendAsync(TypeUrls.RouteConfiguration, "r1", XdsConfig.CatchAll("9080", Cluster));
        await ads.NextAsync(TypeUrls.RouteConfiguration); // ACK
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 100; i++)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail("condition not met within 10 s");
    }
}
