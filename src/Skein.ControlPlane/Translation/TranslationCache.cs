using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Skein.ControlPlane.Mesh;
using Skein.Xds;

namespace Skein.ControlPlane.Translation;

/// <summary>
/// Generates each proxy's resources, once per snapshot and per distinct "shape": proxies that agree on what a
/// resource type depends on share one generated (and serialized) copy. CDS outbound clusters depend on the
/// namespace and mode; EDS on namespace and whether endpoints are loopback addresses; RDS on namespace, mode
/// and the labels sourceLabels matches read; LDS and the inbound clusters on the whole shape (labels, ports).
/// Keys are built from those inputs only, so a key can never hide an input the generator reads.
/// Concurrent callers for the same key await one generation (on the thread pool) instead of blocking threads.
/// </summary>
internal sealed class TranslationCache
{
    private Generation _current = new(MeshSnapshot.Empty(new MeshSettings()), null);
    private long _generated;

    /// <summary>How many resource sets were generated (tests and metrics).</summary>
    public long Generated => Interlocked.Read(ref _generated);

    public ResolvedProxy Resolve(MeshSnapshot snapshot, ProxyNode node) =>
        For(snapshot).Resolved.GetValue(node, n => ResolvedProxy.Resolve(snapshot, n));

    /// <summary>The resources of one type for a proxy (null for types Skein does not generate, such as secrets).</summary>
    public Task<TypeResources>? GetAsync(MeshSnapshot snapshot, ProxyNode node, string typeUrl) => GetAsync(snapshot, node, typeUrl, inline: false);

    private Task<TypeResources>? GetAsync(MeshSnapshot snapshot, ProxyNode node, string typeUrl, bool inline)
    {
        var g = For(snapshot);
        var proxy = g.Resolved.GetValue(node, n => ResolvedProxy.Resolve(snapshot, n));
        return typeUrl switch
        {
            TypeUrls.Cluster => Clusters(g, proxy, inline),
            TypeUrls.ClusterLoadAssignment => g.Get($"eds|{proxy.Mode == ProxyMode.Loopback}|{proxy.Namespace}", () =>
                TypeResources.Create(TypeUrls.ClusterLoadAssignment, EndpointGenerator.Generate(g.Snapshot, proxy), c => c.ClusterName), inline),
            TypeUrls.RouteConfiguration => g.Get($"rds|{proxy.Mode}|{proxy.Namespace}|{proxy.RouteLabelKey}", () =>
                TypeResources.Create(TypeUrls.RouteConfiguration, RouteGenerator.Generate(g.Snapshot, proxy), r => r.Name), inline),
            TypeUrls.Listener => g.Get($"lds|{proxy.ShapeKey}", () =>
                TypeResources.Create(TypeUrls.Listener, ListenerGenerator.Generate(g.Snapshot, proxy), l => l.Name), inline),
            _ => null,
        };
    }

    /// <summary>All four types for a proxy (tools and tests).</summary>
    public ProxyResources Get(MeshSnapshot snapshot, ProxyNode node)
    {
        // Generates on the calling thread: a synchronous caller must not wait on the thread pool.
        TypeResources Wait(string type) => GetAsync(snapshot, node, type, inline: true)!.GetAwaiter().GetResult();
        return new ProxyResources(Wait(TypeUrls.Cluster), Wait(TypeUrls.ClusterLoadAssignment), Wait(TypeUrls.Listener), Wait(TypeUrls.RouteConfiguration));
    }

    private static Task<TypeResources> Clusters(Generation g, ResolvedProxy proxy, bool inline)
    {
        var outboundKey = $"cds-out|{proxy.Mode}|{proxy.Namespace}";
        var inboundKey = $"cds-in|{proxy.ShapeKey}";
        return g.GetComposite($"cds|{outboundKey}|{inboundKey}", async () => TypeResources.Concat(
            TypeUrls.Cluster,
            await g.Get(outboundKey, () => TypeResources.Create(TypeUrls.Cluster, ClusterGenerator.Outbound(g.Snapshot, proxy), c => c.Name), inline),
            await g.Get(inboundKey, () => TypeResources.Create(TypeUrls.Cluster, ClusterGenerator.Inbound(g.Snapshot, proxy), c => c.Name), inline)));
    }

    private Generation For(MeshSnapshot snapshot)
    {
        while (true)
        {
            var current = Volatile.Read(ref _current);
            if (ReferenceEquals(current.Snapshot, snapshot))
            {
                return current;
            }

            if (snapshot.Version < current.Snapshot.Version)
            {
                return new Generation(snapshot, this); // a late caller with an old snapshot: compute, do not keep
            }

            var next = new Generation(snapshot, this);
            if (ReferenceEquals(Interlocked.CompareExchange(ref _current, next, current), current))
            {
                return next;
            }
        }
    }

    private sealed class Generation(MeshSnapshot snapshot, TranslationCache? owner)
    {
        private readonly ConcurrentDictionary<string, Lazy<Task<TypeResources>>> _entries = new(StringComparer.Ordinal);

        public MeshSnapshot Snapshot { get; } = snapshot;

        /// <summary>Resolved identities, by node object (each connection parses its node once).</summary>
        public ConditionalWeakTable<ProxyNode, ResolvedProxy> Resolved { get; } = new();

        /// <summary>The entry for <paramref name="key"/>, generated once: on the thread pool, or on the calling
        /// thread for a synchronous caller (which would otherwise block a pool thread waiting).</summary>
        public Task<TypeResources> Get(string key, Func<TypeResources> build, bool inline) =>
            _entries.GetOrAdd(key, _ => new Lazy<Task<TypeResources>>(() =>
            {
                TypeResources Run()
                {
                    if (owner is not null)
                    {
                        Interlocked.Increment(ref owner._generated);
                    }

                    return build();
                }

                return inline ? Task.FromResult(Run()) : Task.Run(Run);
            })).Value;

        /// <summary>An entry made of other entries (no generation of its own).</summary>
        public Task<TypeResources> GetComposite(string key, Func<Task<TypeResources>> build) =>
            _entries.GetOrAdd(key, _ => new Lazy<Task<TypeResources>>(build)).Value;
    }
}
