using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Skein.ControlPlane.Tests.Translation;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Route.V3;
using Skein.Xds.Envoy.Service.Discovery.V3;

namespace Skein.ControlPlane.Tests.Xds;

/// <summary>The ADS server over a real gRPC channel (Grpc.Net.Client's generated client, h2c on 127.0.0.1).</summary>
public sealed class AdsServerTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(400);

    private static string Bookstore => SimulationTests.Input("bookstore");

    private static string Canary => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Translation", "testdata", "canary", "input.yaml"))[Bookstore.Length..];

    private static long Version(DiscoveryResponse r) => long.Parse(r.VersionInfo, CultureInfo.InvariantCulture);

    /// <summary>Subscribes to all four types (wildcard), ACKs every response, and returns the last response per type.</summary>
    private static async Task<Dictionary<string, DiscoveryResponse>> SyncAsync(AdsTestClient client)
    {
        foreach (var type in new[] { TypeUrls.Cluster, TypeUrls.ClusterLoadAssignment, TypeUrls.Listener, TypeUrls.RouteConfiguration })
        {
            await client.SubscribeAsync(type);
        }

        var last = new Dictionary<string, DiscoveryResponse>();
        for (var i = 0; i < 4; i++)
        {
            var r = await client.NextAsync();
            last[r.TypeUrl] = r;
            await client.AckAsync(r);
        }

        return last;
    }

    [Fact]
    public async Task Connect_RequestsInAnyOrder_AnsweredCdsEdsLdsRds()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(Bookstore);
        await using var client = cp.Connect("frontend-0");

        // A gRPC client's order (LDS, RDS, CDS, EDS); the server answers in push order.
        await client.SubscribeAsync(TypeUrls.Listener);
        await client.SubscribeAsync(TypeUrls.RouteConfiguration);
        await client.SubscribeAsync(TypeUrls.Cluster);
        await client.SubscribeAsync(TypeUrls.ClusterLoadAssignment);
        var types = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            types.Add((await client.NextAsync()).TypeUrl);
        }

        Assert.Equal([TypeUrls.Cluster, TypeUrls.ClusterLoadAssignment, TypeUrls.Listener, TypeUrls.RouteConfiguration], types);
    }

    [Fact]
    public async Task Connect_WildcardClusters_AllClustersWithTheirTypeUrl()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(Bookstore);
        await using var client = cp.Connect("frontend-0");

        await client.SubscribeAsync(TypeUrls.Cluster);
        var response = await client.NextAsync();
        var names = response.Resources.Select(a => a.Unpack<Cluster>().Name).ToList();

        Assert.Equal(TypeUrls.Cluster, response.TypeUrl);
        Assert.All(response.Resources, a => Assert.Equal(TypeUrls.Cluster, a.TypeUrl));
        Assert.Contains("outbound|9080|v2|reviews.default.svc.cluster.local", names);
        Assert.Contains("inbound|9080||", names);
        Assert.Contains(WellKnownNamesForTests.Passthrough, names);
        Assert.Equal(cp.Host.State.Current.Version, Version(response));
    }

    [Fact]
    public async Task Ack_RecordsVersion_AndSendsNothingMore()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(Bookstore);
        await using var client = cp.Connect("frontend-0");

        var last = await SyncAsync(client);

        Assert.Null(await client.TryNextAsync(Quiet));
        using var status = await cp.GetJsonAsync("/api/v1/proxies");
        var proxy = Assert.Single(status.RootElement.GetProperty("proxies").EnumerateArray());
        Assert.True(proxy.GetProperty("connected").GetBoolean());
        Assert.Equal("frontend", proxy.GetProperty("workload").GetString());
        var clusters = proxy.GetProperty("types").GetProperty("clusters");
        Assert.Equal(last[TypeUrls.Cluster].VersionInfo, clusters.GetProperty("acked").GetString());
        Assert.True(clusters.GetProperty("synced").GetBoolean());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, proxy.GetProperty("lastNack").ValueKind);
    }

    [Fact]
    public async Task Nack_IsRecordedAndThatVersionIsNotResent()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(Bookstore);
        await using var client = cp.Connect("frontend-0");
        await client.SubscribeAsync(TypeUrls.Cluster);
        var first = await client.NextAsync();
        await client.AckAsync(first);

        // A change that alters CDS: the proxy refuses the new version.
        var (status, _) = await cp.PostConfigAsync("""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: catalog}
            spec: {host: catalog, trafficPolicy: {connectionPool: {tcp: {maxConnections: 7}}}}
            """);
        Assert.Equal(200, status);
        var second = await client.NextAsync();
        Assert.True(Version(second) > Version(first));
        await client.NackAsync(second, first.VersionInfo, "cluster outbound|9080||catalog: max_connections too low");

        // Neither the NACK nor a change that leaves CDS alone brings it back.
        Assert.Null(await client.TryNextAsync(Quiet));
        (status, _) = await cp.PostConfigAsync("""
            apiVersion: skein.dev/v1alpha1
            kind: RateLimit
            metadata: {name: ratings}
            spec: {service: ratings, requestsPerUnit: 5, unit: SECOND}
            """);
        Assert.Equal(200, status);
        Assert.Null(await client.TryNextAsync(Quiet));

        using var proxies = await cp.GetJsonAsync("/api/v1/proxies");
        var proxy = Assert.Single(proxies.RootElement.GetProperty("proxies").EnumerateArray());
        var nack = proxy.GetProperty("lastNack");
        Assert.Equal("clusters", nack.GetProperty("type").GetString());
        Assert.Equal(second.VersionInfo, nack.GetProperty("version").GetString());
        Assert.Contains("max_connections too low", nack.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(first.VersionInfo, proxy.GetProperty("types").GetProperty("clusters").GetProperty("acked").GetString());

        // A change to CDS sends a new version.
        (status, _) = await cp.PostConfigAsync("""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: catalog}
            spec: {host: catalog, trafficPolicy: {connectionPool: {tcp: {maxConnections: 70}}}}
            """);
        Assert.Equal(200, status);
        var third = await client.NextAsync();
        Assert.Equal(TypeUrls.Cluster, third.TypeUrl);
        Assert.True(Version(third) > Version(second));
    }

    [Fact]
    public async Task StaleNonce_IsIgnored()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(Bookstore);
        await using var client = cp.Connect("frontend-0");
        await client.SubscribeAsync(TypeUrls.Cluster);
        var response = await client.NextAsync();

        await client.SendAsync(new DiscoveryRequest { TypeUrl = TypeUrls.Cluster, ResponseNonce = "not-a-nonce", VersionInfo = response.VersionInfo, ResourceNames = { "x" } });

        Assert.Null(await client.TryNextAsync(Quiet));
    }

    [Fact]
    public async Task ConfigChange_ViaHttpApi_PushedWithinDebounce()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(Bookstore, debounce: TimeSpan.FromMilliseconds(100));
        await using var client = cp.Connect("frontend-0");
        var before = await SyncAsync(client);

        var started = DateTime.UtcNow;
        var (status, body) = await cp.PostConfigAsync(Canary, "reviews-canary.yaml");
        var push = await client.NextAsync(TimeSpan.FromSeconds(5));
        var elapsed = DateTime.UtcNow - started;

        Assert.Equal(200, status);
        Assert.Equal("created", body.RootElement.GetProperty("results")[0].GetProperty("action").GetString());
        Assert.Equal(TypeUrls.RouteConfiguration, push.TypeUrl);
        Assert.True(Version(push) > Version(before[TypeUrls.RouteConfiguration]));
        Assert.True(elapsed < TimeSpan.FromSeconds(2), $"push took {elapsed}");
        var routes = push.Resources.Select(a => a.Unpack<RouteConfiguration>()).Single(r => r.Name == "9080");
        var reviews = routes.VirtualHosts.Single(v => v.Name == "reviews.default.svc.cluster.local:9080");
        Assert.Equal([90u, 10u], reviews.Routes[0].Route_.WeightedClusters.Clusters.Select(c => c.Weight ?? 0));
        Assert.Null(await client.TryNextAsync(Quiet)); // nothing else changed for this proxy
    }

    [Fact]
    public async Task ConfigChange_AffectingOneProxy_OthersGetNoPush()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(Bookstore);
        await using var frontend = cp.Connect("frontend-0");
        await using var ratings = cp.Connect("ratings-0");
        await SyncAsync(frontend);
        var before = await SyncAsync(ratings);

        var (status, _) = await cp.PostConfigAsync("""
            apiVersion: skein.dev/v1alpha1
            kind: RateLimit
            metadata: {name: ratings}
            spec: {service: ratings, requestsPerUnit: 5, unit: SECOND}
            """);

        Assert.Equal(200, status);
        var push = await ratings.NextAsync();
        Assert.Equal(TypeUrls.Listener, push.TypeUrl);
        Assert.True(Version(push) > Version(before[TypeUrls.Listener]));
        await ratings.AckAsync(push);
        Assert.Null(await frontend.TryNextAsync(Quiet));
        Assert.Null(await ratings.TryNextAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task InvalidConfig_WeightOver100_RejectedWithPositionAndOldConfigServed()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(Bookstore);
        await using var client = cp.Connect("frontend-0");
        var before = await SyncAsync(client);
        var version = cp.Host.State.Current.Version;

        var (status, body) = await cp.PostConfigAsync(Canary.Replace("weight: 90", "weight: 150", StringComparison.Ordinal), "reviews-canary.yaml");

        Assert.Equal(400, status);
        var diagnostic = body.RootElement.GetProperty("diagnostics").EnumerateArray()
            .Single(d => d.GetProperty("path").GetString() == "spec.http[0].route[0].weight");
        Assert.Equal("reviews-canary.yaml", diagnostic.GetProperty("file").GetString());
        Assert.Equal(14, diagnostic.GetProperty("line").GetInt32());
        Assert.Equal(19, diagnostic.GetProperty("column").GetInt32());
        Assert.Equal("error", diagnostic.GetProperty("severity").GetString());
        Assert.Equal("SK0005", diagnostic.GetProperty("code").GetString());
        Assert.Equal(version, cp.Host.State.Current.Version);
        Assert.Null(await client.TryNextAsync(Quiet));

        // A new proxy still gets the old routes: reviews without a split.
        await using var fresh = cp.Connect("catalog-0");
        await fresh.SubscribeAsync(TypeUrls.RouteConfiguration, "9080");
        var routes = (await fresh.NextAsync()).Resources.Single().Unpack<RouteConfiguration>();
        var reviews = routes.VirtualHosts.Single(v => v.Name == "reviews.default.svc.cluster.local:9080");
        Assert.Equal("outbound|9080||reviews.default.svc.cluster.local", reviews.Routes[0].Route_.Cluster);
        Assert.Equal(before[TypeUrls.RouteConfiguration].VersionInfo, version.ToString(CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task NamedSubscriptions_GrpcClient_GetsExactlyTheNamesAsked()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(Bookstore);
        var node = new Node { Id = "grpc-client-1", UserAgentName = "gRPC Node Pure-JS", Locality = new Locality() };
        await using var client = cp.Connect(node);

        await client.SubscribeAsync(TypeUrls.Listener, "reviews:9080", "nosuch:1");
        var lds = await client.NextAsync();
        var listener = Assert.Single(lds.Resources).Unpack<Listener>();
        Assert.Equal("reviews:9080", listener.Name);
        await client.AckAsync(lds, "reviews:9080", "nosuch:1");

        await client.SubscribeAsync(TypeUrls.RouteConfiguration, "reviews.default.svc.cluster.local:9080");
        var rds = await client.NextAsync();
        await client.AckAsync(rds, "reviews.default.svc.cluster.local:9080");
        await client.SubscribeAsync(TypeUrls.Cluster, "outbound|9080||reviews.default.svc.cluster.local");
        var cds = await client.NextAsync();
        var cluster = Assert.Single(cds.Resources).Unpack<Cluster>();
        Assert.Equal(Cluster.Types.LbPolicy.RoundRobin, cluster.LbPolicy);
        Assert.Equal(Cluster.Types.DiscoveryType.Eds, cluster.Type);
        await client.AckAsync(cds, "outbound|9080||reviews.default.svc.cluster.local");
        await client.SubscribeAsync(TypeUrls.ClusterLoadAssignment, "outbound|9080||reviews.default.svc.cluster.local");
        var eds = await client.NextAsync();
        var cla = Assert.Single(eds.Resources).Unpack<ClusterLoadAssignment>();
        Assert.Equal(3, cla.Endpoints.Single().LbEndpoints.Count);
        Assert.Equal(3u, cla.Endpoints.Single().LoadBalancingWeight);

        await client.AckAsync(eds, "outbound|9080||reviews.default.svc.cluster.local");
        Assert.Null(await client.TryNextAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task NamedSubscriptions_AddedName_AnsweredWithAllNames()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(Bookstore);
        await using var client = cp.Connect(new Node { Id = "grpc-client-2", UserAgentName = "gRPC Node Pure-JS" });

        await client.SubscribeAsync(TypeUrls.Listener, "reviews:9080");
        var first = await client.NextAsync();
        await client.AckAsync(first, "reviews:9080", "ratings:9080");
        var second = await client.NextAsync();
        await client.AckAsync(second, "reviews:9080", "ratings:9080");

        // Adding a name is answered with every subscribed name, as LDS state of the world requires;
        // a late answer to the first response carries a superseded nonce and is ignored.
        Assert.Equal(["ratings:9080", "reviews:9080"], second.Resources.Select(a => a.Unpack<Listener>().Name));
        await client.AckAsync(first, "reviews:9080");
        Assert.Null(await client.TryNextAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task ProxyConfig_ReturnsAckedResourcesAsJson()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(Bookstore);
        await using var client = cp.Connect("frontend-0");
        await SyncAsync(client);

        using var doc = await cp.GetJsonAsync("/api/v1/proxies/frontend/config?type=listeners");
        var listeners = doc.RootElement.GetProperty("listeners");
        var names = listeners.GetProperty("resources").EnumerateArray().Select(l => l.GetProperty("name").GetString()).ToList();

        Assert.Equal(["0.0.0.0_9080", "virtualInbound", "virtualOutbound"], names);
        var response = await cp.Http.GetAsync("/api/v1/proxies/nobody/config?type=listeners");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Disconnect_ProxyStaysListedAsDisconnected()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(Bookstore);
        var client = cp.Connect("catalog-0");
        await SyncAsync(client);
        await client.DisposeAsync();

        JsonElementWaiter waiter = new(cp);
        var proxy = await waiter.WaitAsync("/api/v1/proxies", root => root.GetProperty("proxies").EnumerateArray().Any(p => !p.GetProperty("connected").GetBoolean()));

        Assert.False(proxy.GetProperty("proxies")[0].GetProperty("connected").GetBoolean());
        Assert.NotEqual(System.Text.Json.JsonValueKind.Null, proxy.GetProperty("proxies")[0].GetProperty("disconnectedAt").ValueKind);
    }

    [Fact]
    public async Task RegistryChange_NewInstance_PushesEndpoints()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(Bookstore);
        await using var client = cp.Connect("frontend-0");
        await SyncAsync(client);

        using var content = new StringContent("""{"id": "reviews-v2-1", "workload": "reviews-v2", "address": "198.18.0.99", "ports": [9080]}""");
        var response = await cp.Http.PostAsync("/api/v1/registry/instances", content);
        response.EnsureSuccessStatusCode();
        var push = await client.NextAsync();

        Assert.Equal(TypeUrls.ClusterLoadAssignment, push.TypeUrl);
        var v2 = push.Resources.Select(a => a.Unpack<ClusterLoadAssignment>()).Single(c => c.ClusterName == "outbound|9080|v2|reviews.default.svc.cluster.local");
        Assert.Equal(["198.18.0.14", "198.18.0.99"], v2.Endpoints.Single().LbEndpoints.Select(e => e.Endpoint.Address.SocketAddress.Address).Order(StringComparer.Ordinal));
        await client.AckAsync(push);
        Assert.Null(await client.TryNextAsync(Quiet)); // a new endpoint changes EDS only: no CDS, LDS or RDS push
    }
}

internal static class WellKnownNamesForTests
{
    public const string Passthrough = "PassthroughCluster";
}

/// <summary>Polls a JSON endpoint until a condition holds.</summary>
internal sealed class JsonElementWaiter(ControlPlaneRunner cp)
{
    public async Task<System.Text.Json.JsonElement> WaitAsync(string path, Func<System.Text.Json.JsonElement, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            using var doc = await cp.GetJsonAsync(path);
            if (condition(doc.RootElement) || DateTime.UtcNow > deadline)
            {
                return doc.RootElement.Clone();
            }

            await Task.Delay(50);
        }
    }
}
