using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Skein.Api.Loading;
using Skein.ControlPlane.ConfigStore;
using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Registry;
using Skein.ControlPlane.Telemetry;
using Skein.ControlPlane.Translation;
using Skein.ControlPlane.Xds;
using Skein.Xds;
using Skein.Xds.Envoy.Service.Discovery.V3;
using Xunit.Abstractions;

namespace Skein.ControlPlane.Tests.Xds;

/// <summary>
/// A simulated mesh served by one in-process ADS server to in-process fake proxies (no sockets): 200 services,
/// 400 proxies (two replicas each). Sized to run in seconds in the unit test suite.
/// </summary>
[Trait("Category", "Load")]
public sealed class LoadTests(ITestOutputHelper output)
{
    private const int Services = 200;
    private const int Replicas = 2;

    [Fact]
    public async Task Serve_200Services400Proxies_AllSyncAndChangeReachesEveryProxy()
    {
        var store = new MeshConfigStore(DataDirectory.None, NullLogger<MeshConfigStore>.Instance);
        var registry = new InstanceRegistry(DataDirectory.None, NullLogger<InstanceRegistry>.Instance);
        var state = new MeshState(store, registry, new VipAllocator(DataDirectory.None), new MeshSettings(), DataDirectory.None, TimeProvider.System, NullLogger<MeshState>.Instance);
        var cache = new TranslationCache();
        var metrics = new ControlPlaneMetrics();
        using var server = new XdsServer(state, cache, new XdsServerOptions { PushDebounce = TimeSpan.FromMilliseconds(50) }, metrics, TimeProvider.System, NullLogger<XdsServer>.Instance);
        Assert.True(store.ReplaceDirectory(ConfigLoader.LoadText(Mesh(), "mesh.yaml"), "mesh").Accepted);
        registry.RegisterAll(TestMesh.Registrations(store.Current.Resources.OfType<Skein.Api.Model.Workload>()));
        Assert.Equal(Services * Replicas, state.Current.Instances.Length);

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var proxies = state.Current.Instances.Select(i => new FakeProxy(server, i.Id, stop.Token)).ToList();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(proxies.Select(p => p.SyncAsync()));
        var syncTime = clock.Elapsed;
        var generatedAfterSync = cache.Generated;

        // One change that touches every proxy's routes: a canary for svc-0.
        clock.Restart();
        var result = store.Apply("""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: svc-0}
            spec:
              hosts: [svc-0]
              http: [{route: [{destination: {host: svc-0, subset: v1}, weight: 90}, {destination: {host: svc-0, subset: v2}, weight: 10}]}]
            """, "canary.yaml");
        Assert.True(result.Accepted, string.Join("\n", result.Diagnostics));
        var latencies = await Task.WhenAll(proxies.Select(p => p.AwaitPushAndAckAsync(TypeUrls.RouteConfiguration)));
        var pushTime = clock.Elapsed;
        Array.Sort(latencies);
        var p99 = latencies[(int)(latencies.Length * 0.99) - 1];

        output.WriteLine($"sync of {proxies.Count} proxies: {syncTime.TotalMilliseconds:F0} ms; resource sets generated: {generatedAfterSync}");
        output.WriteLine($"change to last ACK: {pushTime.TotalMilliseconds:F0} ms (p99 {p99.TotalMilliseconds:F0} ms); generated in total: {cache.Generated}");
        output.WriteLine($"memory: {GC.GetTotalMemory(false) / (1024 * 1024)} MiB");

        Assert.True(syncTime < TimeSpan.FromSeconds(30), $"sync took {syncTime}");
        Assert.True(pushTime < TimeSpan.FromSeconds(10), $"push took {pushTime}");

        // Generation is per shape, not per proxy: replicas share, and most types are shared mesh-wide.
        Assert.True(generatedAfterSync <= (3 * Services) + 10, $"{generatedAfterSync} resource sets for {Services} shapes");
        Assert.All(proxies, p => Assert.Equal(0, p.Unexpected));

        // Nothing else is pushed: other types did not change.
        await Task.Delay(200);
        Assert.All(proxies, p => Assert.Equal(0, p.Pending));
        await stop.CancelAsync();
        await Task.WhenAll(proxies.Select(p => p.Completion));
    }

    [Fact]
    public void Get_ReplicasOfOneWorkload_ShareGeneratedResources()
    {
        var snapshot = TestMesh.Build(Translation.SimulationTests.Input("bookstore").Replace("name: reviews-v1\nspec:\n", "name: reviews-v1\nspec:\n  replicas: 2\n", StringComparison.Ordinal));
        var cache = new TranslationCache();

        var a = cache.Get(snapshot, TestMesh.Node("reviews-v1-0"));
        var b = cache.Get(snapshot, TestMesh.Node("reviews-v1-1"));
        var other = cache.Get(snapshot, TestMesh.Node("frontend-0"));

        Assert.Same(a.Listeners, b.Listeners);
        Assert.Same(a.Clusters, b.Clusters);
        Assert.Same(a.Routes, other.Routes); // no sourceLabels: routes are the same for every proxy of the namespace
        Assert.Same(a.Endpoints, other.Endpoints);
        Assert.Same(
            a.Clusters.ByName["outbound|9080||catalog.default.svc.cluster.local"].Any,
            other.Clusters.ByName["outbound|9080||catalog.default.svc.cluster.local"].Any);
    }

    private static string Mesh()
    {
        var sb = new StringBuilder();
        for (var i = 0; i < Services; i++)
        {
            sb.Append($$"""
                apiVersion: skein.dev/v1alpha1
                kind: Workload
                metadata: {name: svc-{{i}}}
                spec: {command: [app], replicas: {{Replicas}}, version: v{{(i % 2) + 1}}, ports: [{name: http, port: 8080}]}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: svc-{{i}}}
                spec: {selector: {app: svc-{{i}}}, ports: [{name: http, port: 8080}]}
                ---

                """);
            if (i % 10 == 0)
            {
                sb.Append($$$"""
                    apiVersion: networking.istio.io/v1
                    kind: DestinationRule
                    metadata: {name: svc-{{{i}}}}
                    spec: {host: svc-{{{i}}}, subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]}
                    ---

                    """);
            }
        }

        return sb.ToString();
    }

    /// <summary>A proxy without a socket: subscribes to everything, ACKs what it gets, and records when pushes arrive.</summary>
    private sealed class FakeProxy
    {
        private readonly Channel<DiscoveryRequest> _requests = Channel.CreateUnbounded<DiscoveryRequest>();
        private readonly Channel<DiscoveryResponse> _responses = Channel.CreateUnbounded<DiscoveryResponse>();

        public FakeProxy(XdsServer server, string instanceId, CancellationToken stop)
        {
            _requests.Writer.TryWrite(new DiscoveryRequest { Node = TestMesh.NodeMessage(instanceId), TypeUrl = TypeUrls.Cluster });
            Completion = Task.Run(() => server.HandleStreamAsync(_requests.Reader.ReadAllAsync(stop), r => _responses.Writer.WriteAsync(r).AsTask(), instanceId, stop), CancellationToken.None);
        }

        public Task Completion { get; }

        public int Unexpected { get; private set; }

        public int Pending => _responses.Reader.Count;

        public async Task SyncAsync()
        {
            foreach (var type in new[] { TypeUrls.ClusterLoadAssignment, TypeUrls.Listener, TypeUrls.RouteConfiguration })
            {
                _requests.Writer.TryWrite(new DiscoveryRequest { TypeUrl = type });
            }

            for (var i = 0; i < 4; i++)
            {
                await AckAsync(await _responses.Reader.ReadAsync());
            }
        }

        public async Task<TimeSpan> AwaitPushAndAckAsync(string type)
        {
            var clock = Stopwatch.StartNew();
            var response = await _responses.Reader.ReadAsync();
            if (response.TypeUrl != type)
            {
                Unexpected++;
            }

            await AckAsync(response);
            return clock.Elapsed;
        }

        private ValueTask AckAsync(DiscoveryResponse r) =>
            _requests.Writer.WriteAsync(new DiscoveryRequest { TypeUrl = r.TypeUrl, VersionInfo = r.VersionInfo, ResponseNonce = r.Nonce });
    }
}
