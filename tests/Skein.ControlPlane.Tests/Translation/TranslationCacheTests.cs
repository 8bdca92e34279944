using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Skein.Api.Loading;
using Skein.ControlPlane.ConfigStore;
using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Registry;
using Skein.ControlPlane.Translation;
using Skein.Xds;

namespace Skein.ControlPlane.Tests.Translation;

/// <summary>
/// The translation cache keeps generated fragments across snapshots: what it serves must always equal a fresh
/// generation, and a change must regenerate only the fragments that read what changed.
/// </summary>
public sealed class TranslationCacheTests
{
    private const int Services = 30;

    [Fact]
    public async Task Get_OneVirtualServiceChanged_RegeneratesOnlyThatServicesRoutes()
    {
        var mesh = new SequenceMesh();
        var first = mesh.Apply(Mesh(90));
        var cache = new TranslationCache();
        var node = TestMesh.Node("svc-3-0");
        var before = cache.Get(first, node);

        var second = mesh.Apply(Mesh(90, changed: 7, changedWeight: 60));
        var generated = new Dictionary<string, long>();
        foreach (var type in new[] { TypeUrls.Cluster, TypeUrls.ClusterLoadAssignment, TypeUrls.Listener, TypeUrls.RouteConfiguration })
        {
            var start = cache.FragmentsGenerated;
            await cache.GetAsync(second, node, type)!;
            generated[type] = cache.FragmentsGenerated - start;
        }

        var after = cache.Get(second, node);

        // One service port's routes and the route configuration assembled from them; nothing else.
        Assert.Equal(0, generated[TypeUrls.Cluster]);
        Assert.Equal(0, generated[TypeUrls.ClusterLoadAssignment]);
        Assert.Equal(0, generated[TypeUrls.Listener]);
        Assert.Equal(2, generated[TypeUrls.RouteConfiguration]);
        Assert.Equal(before.Clusters.Hash, after.Clusters.Hash);
        Assert.Same(before.Endpoints, after.Endpoints);
        Assert.Equal(before.Listeners.Hash, after.Listeners.Hash);
        Assert.NotEqual(before.Routes.Hash, after.Routes.Hash);
        Assert.Equal(Fresh(second, node), Contents(after));
    }

    [Fact]
    public void Get_NewInstanceRegistered_OnlyEndpointsChange()
    {
        var mesh = new SequenceMesh();
        var first = mesh.Apply(Mesh(90));
        var cache = new TranslationCache();
        var node = TestMesh.Node("svc-3-0");
        var before = cache.Get(first, node);

        var second = mesh.Register(new InstanceRegistration { Id = "svc-5-extra", Workload = "svc-5", Address = "198.18.9.1" });
        var after = cache.Get(second, node);

        Assert.Equal(before.Clusters.Hash, after.Clusters.Hash);
        Assert.Same(before.Routes, after.Routes);
        Assert.Equal(before.Listeners.Hash, after.Listeners.Hash);
        Assert.NotEqual(before.Endpoints.Hash, after.Endpoints.Hash);
        Assert.Equal(Fresh(second, node), Contents(after));
    }

    /// <summary>
    /// Every golden case applied in turn to one mesh, each also with an instance turned unhealthy: the cache that
    /// saw every earlier snapshot serves exactly what a new cache generates, for several kinds of proxy.
    /// </summary>
    [Fact]
    public void Get_EveryCaseInTurn_SameAsFreshGeneration()
    {
        var mesh = new SequenceMesh();
        var cache = new TranslationCache();
        var root = Path.Combine(AppContext.BaseDirectory, "Translation", "testdata");
        var steps = 0;
        foreach (var dir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            var (_, caseNode) = GoldenTests.Load(dir);
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "case.json")));
            var settings = new MeshSettings(doc.RootElement.TryGetProperty("mtls", out var t) && t.GetBoolean());
            var input = File.ReadAllText(Path.Combine(dir, "input.yaml"));
            foreach (var unhealthy in new[] { false, true })
            {
                var snapshot = mesh.Apply(input, settings, unhealthy ? "reviews-v1-0" : null);
                foreach (var node in new[] { caseNode, TestMesh.Node("frontend-0"), TestMesh.Node("reviews-v2-0"), TestMesh.Node("frontend-0", "loopback"), TestMesh.Node("frontend-0", "proxyless") })
                {
                    Assert.True(Fresh(snapshot, node) == Contents(cache.Get(snapshot, node)), $"{Path.GetFileName(dir)} (unhealthy: {unhealthy}), proxy {node.Id} {node.Mode}: the cache differs from a fresh generation");
                }

                steps++;
            }
        }

        Assert.True(steps > 10);
        Assert.True(cache.FragmentsReused > 0);
    }

    private static string Fresh(MeshSnapshot snapshot, ProxyNode node) => Contents(new TranslationCache().Get(snapshot, node));

    private static string Contents(ProxyResources r)
    {
        var sb = new StringBuilder();
        foreach (var type in new[] { r.Clusters, r.Endpoints, r.Listeners, r.Routes })
        {
            foreach (var item in type.Items)
            {
                sb.Append(item.Name).Append(' ').Append(item.Any.TypeUrl).Append(' ').Append(Convert.ToHexString(item.Any.Value.Span)).Append('\n');
            }

            sb.Append("--\n");
        }

        return sb.ToString();
    }

    private static List<string> Names(TypeResources r) => [.. r.Items.Select(i => i.Name)];

    private static string Mesh(int weight, int changed = -1, int changedWeight = 0)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < Services; i++)
        {
            var w = i == changed ? changedWeight : weight;
            sb.Append(CultureInfo.InvariantCulture, $$$"""
                apiVersion: skein.dev/v1alpha1
                kind: Workload
                metadata: {name: svc-{{{i}}}}
                spec: {command: [app], labels: {app: svc-{{{i}}}}, version: v1, ports: [{name: http, port: 8080}]}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: svc-{{{i}}}}
                spec: {selector: {app: svc-{{{i}}}}, ports: [{name: http, port: 8080}]}
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: svc-{{{i}}}}
                spec: {host: svc-{{{i}}}, subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]}
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: svc-{{{i}}}}
                spec:
                  hosts: [svc-{{{i}}}]
                  http: [{route: [{destination: {host: svc-{{{i}}}, subset: v1}, weight: {{{w}}}}, {destination: {host: svc-{{{i}}}, subset: v2}, weight: {{{100 - w}}}}]}]
                ---

                """);
        }

        return sb.ToString();
    }

    /// <summary>Snapshots that follow one another, as skein-control builds them (each knows its predecessor).</summary>
    private sealed class SequenceMesh
    {
        private readonly VipAllocator _vips = new(DataDirectory.None);
        private readonly List<InstanceRegistration> _extra = [];
        private MeshSnapshot? _previous;
        private ConfigSnapshot _config = ConfigSnapshot.Empty;
        private MeshSettings _settings = new();
        private string? _unhealthy;
        private long _version;

        public MeshSnapshot Apply(string yaml, MeshSettings? settings = null, string? unhealthy = null)
        {
            var store = new MeshConfigStore(DataDirectory.None, NullLogger<MeshConfigStore>.Instance);
            var result = store.ReplaceDirectory(ConfigLoader.LoadText(yaml, "input.yaml"), "testdata");
            Assert.True(result.Accepted, string.Join("\n", result.Diagnostics));
            _config = store.Current;
            _settings = settings ?? new MeshSettings();
            _unhealthy = unhealthy;
            return Next();
        }

        public MeshSnapshot Register(InstanceRegistration registration)
        {
            _extra.Add(registration);
            return Next();
        }

        private MeshSnapshot Next()
        {
            var registrations = TestMesh.Registrations(_config.Resources.OfType<Skein.Api.Model.Workload>())
                .Select(r => r.Id == _unhealthy ? r with { Healthy = false } : r)
                .Concat(_extra);
            var registry = ServiceRegistryBuilder.Build(_config, registrations, _vips, _previous?.AllServices ?? default);
            _previous = MeshSnapshot.Create(++_version, TestMesh.Epoch, _config, registry, _settings, _previous);
            return _previous;
        }
    }
}
