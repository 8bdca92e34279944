using System.Collections.Concurrent;
using Skein.ControlPlane.Mesh;
using Skein.Xds;

namespace Skein.ControlPlane.Translation;

/// <summary>
/// Generates each proxy's resources, once per snapshot and per distinct "shape": proxies that agree on what a
/// resource type depends on share one generated (and serialized) copy. CDS outbound clusters depend on the
/// namespace and mode; EDS on namespace and whether endpoints are loopback addresses; RDS on namespace, mode
/// and the labels sourceLabels matches read; LDS and the inbound clusters on the whole shape (labels, ports).
/// Keys are built from those inputs only, so a key can never hide an input the generator reads.
/// </summary>
internal sealed class TranslationCache
{
    private Generation _current = new(MeshSnapshot.Empty(new MeshSettings()));

    /// <summary>How many resource sets were generated (tests and metrics).</summary>
    public long Generated => Interlocked.Read(ref _generated);

    private long _generated;

    public ProxyResources Get(MeshSnapshot snapshot, ProxyNode node) => Get(snapshot, Resolve(snapshot, node));

    public ResolvedProxy Resolve(MeshSnapshot snapshot, ProxyNode node)
    {
        var generation = For(snapshot);
        return generation.Resolved.GetValue(node, n => ResolvedProxy.Resolve(snapshot, n));
    }

    public ProxyResources Get(MeshSnapshot snapshot, ResolvedProxy proxy)
    {
        var g = For(snapshot);
        var mode = proxy.Mode.ToString();
        var ns = proxy.Namespace;

        var outboundClusters = g.Get($"cds-out|{mode}|{ns}", () => TypeResources.Create(TypeUrls.Cluster, ClusterGenerator.Outbound(snapshot, proxy), c => c.Name));
        var inboundKey = $"cds-in|{proxy.ShapeKey}";
        var clusters = g.Get($"cds|{mode}|{ns}|{inboundKey}", () => TypeResources.Concat(
            TypeUrls.Cluster,
            outboundClusters,
            g.Get(inboundKey, () => TypeResources.Create(TypeUrls.Cluster, ClusterGenerator.Inbound(snapshot, proxy), c => c.Name))));
        var endpoints = g.Get($"eds|{proxy.Mode == ProxyMode.Loopback}|{ns}", () =>
            TypeResources.Create(TypeUrls.ClusterLoadAssignment, EndpointGenerator.Generate(snapshot, proxy), c => c.ClusterName));
        var routes = g.Get($"rds|{mode}|{ns}|{proxy.RouteLabelKey}", () =>
            TypeResources.Create(TypeUrls.RouteConfiguration, RouteGenerator.Generate(snapshot, proxy), r => r.Name));
        var listeners = g.Get($"lds|{proxy.ShapeKey}", () =>
            TypeResources.Create(TypeUrls.Listener, ListenerGenerator.Generate(snapshot, proxy), l => l.Name));
        return new ProxyResources(clusters, endpoints, listeners, routes);
    }

    private Generation For(MeshSnapshot snapshot)
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
        var seen = Interlocked.CompareExchange(ref _current, next, current);
        return ReferenceEquals(seen, current) ? next : For(snapshot);
    }

    private sealed class Generation(MeshSnapshot snapshot, TranslationCache? owner = null)
    {
        private readonly ConcurrentDictionary<string, Lazy<TypeResources>> _entries = new(StringComparer.Ordinal);

        public MeshSnapshot Snapshot { get; } = snapshot;

        /// <summary>Resolved identities, by node object (each connection parses its node once).</summary>
        public System.Runtime.CompilerServices.ConditionalWeakTable<ProxyNode, ResolvedProxy> Resolved { get; } = new();

        public TypeResources Get(string key, Func<TypeResources> build) =>
            _entries.GetOrAdd(key, _ => new Lazy<TypeResources>(() =>
            {
                if (owner is not null)
                {
                    Interlocked.Increment(ref owner._generated);
                }

                return build();
            })).Value;
    }
}
