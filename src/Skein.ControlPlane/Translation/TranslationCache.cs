using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Google.Protobuf;
using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Registry;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Route.V3;

namespace Skein.ControlPlane.Translation;

/// <summary>
/// Generates each proxy's resources from parts shared by every proxy of a "class" (the inputs a part depends
/// on): outbound clusters by mode and namespace; endpoints by namespace and whether they are loopback
/// addresses; routes and outbound listeners by mode, namespace and the labels sourceLabels matches read;
/// inbound clusters and listeners by the whole shape (labels, ports). A proxy's CDS and LDS are two parts
/// merged lazily, so no per-proxy copy is made.
/// <para>
/// Parts are kept across snapshots. Outbound clusters and endpoints are generated service by service, and
/// routes service port by service port; every such fragment (and every whole part) remembers what it read
/// from the snapshot (<see cref="MeshReads"/>: the snapshot records its own reads, so a generator cannot
/// use an input its entry does not know about) and is reused while those reads give the same stamps. A
/// fragment generated again whose bytes did not change keeps its serialized resource, and a part whose
/// resources did not change stays the same object, so unchanged proxies are found by comparing hashes.
/// </para>
/// Concurrent callers for the same part await one generation (on the thread pool) instead of blocking threads.
/// </summary>
internal sealed class TranslationCache
{
    /// <summary>Parts not asked for during this many snapshots are dropped.</summary>
    private const int KeepUnused = 32;

    private readonly ConcurrentDictionary<string, Part> _parts = new(StringComparer.Ordinal);
    private Generation _current;
    private long _generated;
    private long _fragmentsGenerated;
    private long _fragmentsReused;
    private long _generations;

    public TranslationCache() => _current = new Generation(MeshSnapshot.Empty(new MeshSettings()), 0);

    /// <summary>How many times a part (resource set) came out different from what it was (tests and metrics).</summary>
    public long Generated => Interlocked.Read(ref _generated);

    /// <summary>How many fragments (a service's clusters or endpoints, a service port's routes, a whole part) were generated.</summary>
    public long FragmentsGenerated => Interlocked.Read(ref _fragmentsGenerated);

    /// <summary>How many fragments were reused from an earlier snapshot.</summary>
    public long FragmentsReused => Interlocked.Read(ref _fragmentsReused);

    public ResolvedProxy Resolve(MeshSnapshot snapshot, ProxyNode node) => For(snapshot).Resolve(node);

    /// <summary>The resources of one type for a proxy (null for types Skein does not generate, such as secrets).</summary>
    public Task<TypeResources>? GetAsync(MeshSnapshot snapshot, ProxyNode node, string typeUrl) => GetAsync(snapshot, node, typeUrl, inline: false);

    /// <summary>All four types for a proxy (tools and tests).</summary>
    public ProxyResources Get(MeshSnapshot snapshot, ProxyNode node)
    {
        // Generates on the calling thread: a synchronous caller must not wait on the thread pool.
        TypeResources Wait(string type) => GetAsync(snapshot, node, type, inline: true)!.GetAwaiter().GetResult();
        return new ProxyResources(Wait(TypeUrls.Cluster), Wait(TypeUrls.ClusterLoadAssignment), Wait(TypeUrls.Listener), Wait(TypeUrls.RouteConfiguration));
    }

    private Task<TypeResources>? GetAsync(MeshSnapshot snapshot, ProxyNode node, string typeUrl, bool inline)
    {
        var g = For(snapshot);
        var proxy = g.Resolve(node);
        switch (typeUrl)
        {
            case TypeUrls.Cluster:
            {
                var outKey = $"cds-out|{proxy.Mode}|{proxy.Namespace}";
                var inKey = $"cds-in|{proxy.ShapeKey}";
                return g.GetComposite($"cds|{outKey}|{inKey}", async () => TypeResources.Concat(
                    TypeUrls.Cluster,
                    await g.Get(outKey, () => PerService<Cluster>(g, outKey, proxy, TypeUrls.Cluster, ClusterGenerator.OutboundFor, c => c.Name, ClusterGenerator.OutboundShared), inline),
                    await g.Get(inKey, () => Whole(g, inKey, TypeUrls.Cluster, () => ClusterGenerator.Inbound(g.Snapshot, proxy), c => c.Name), inline)));
            }

            case TypeUrls.ClusterLoadAssignment:
            {
                var key = $"eds|{proxy.Mode == ProxyMode.Loopback}|{proxy.Namespace}";
                return g.Get(key, () => PerService<ClusterLoadAssignment>(g, key, proxy, TypeUrls.ClusterLoadAssignment, EndpointGenerator.ForService, c => c.ClusterName, null), inline);
            }

            case TypeUrls.RouteConfiguration:
            {
                var key = $"rds|{proxy.Mode}|{proxy.Namespace}|{proxy.RouteLabelKey}";
                return g.Get(key, () => Routes(g, key, proxy), inline);
            }

            case TypeUrls.Listener when proxy.Mode == ProxyMode.Proxyless:
            {
                var key = $"lds|{proxy.ShapeKey}";
                return g.Get(key, () => Whole(g, key, TypeUrls.Listener, () => ListenerGenerator.Generate(g.Snapshot, proxy), l => l.Name), inline);
            }

            case TypeUrls.Listener:
            {
                var outKey = $"lds-out|{proxy.Mode}|{proxy.Namespace}|{proxy.RouteLabelKey}";
                var inKey = $"lds-in|{proxy.ShapeKey}";
                return g.GetComposite($"lds|{outKey}|{inKey}", async () => TypeResources.Concat(
                    TypeUrls.Listener,
                    await g.Get(outKey, () => Whole(g, outKey, TypeUrls.Listener, () => ListenerGenerator.SidecarOutbound(g.Snapshot, proxy), l => l.Name), inline),
                    await g.Get(inKey, () => Whole<Listener>(g, inKey, TypeUrls.Listener, () => [ListenerGenerator.SidecarInbound(g.Snapshot, proxy)], l => l.Name), inline)));
            }

            default:
                return null;
        }
    }

    /// <summary>A part generated service by service; <paramref name="shared"/> adds what belongs to no service.</summary>
    private TypeResources PerService<T>(
        Generation g,
        string key,
        ResolvedProxy proxy,
        string typeUrl,
        Action<MeshSnapshot, ResolvedProxy, MeshService, List<T>> generate,
        Func<T, string> name,
        Func<ResolvedProxy, List<T>>? shared)
        where T : IMessage
    {
        var snapshot = g.Snapshot;
        var previous = Previous(key, snapshot);
        if (previous?.Version == snapshot.AllVersion)
        {
            return previous.Resources;
        }

        var fragments = new Dictionary<string, Fragment>(snapshot.AllServices.Length + 1, StringComparer.OrdinalIgnoreCase);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var all = new List<XdsResource>();
        var unchanged = previous is not null;
        foreach (var service in snapshot.AllServices)
        {
            var fragment = MakeFragment(snapshot, previous?.Fragments?.GetValueOrDefault(service.Host), typeUrl, name, () =>
            {
                MeshReads.Lookup(MeshLookup.Service, service.Host, null, null, snapshot.Stamps.Service(service.Host));
                var list = new List<T>();
                generate(snapshot, proxy, service, list);
                return list;
            }, ref unchanged);
            fragments[service.Host] = fragment;
            Collect(fragment, seen, all);
        }

        if (shared is not null)
        {
            var fragment = MakeFragment(snapshot, previous?.Fragments?.GetValueOrDefault(""), typeUrl, name, () => shared(proxy), ref unchanged);
            fragments[""] = fragment;
            Collect(fragment, seen, all);
        }

        var resources = unchanged && previous!.Fragments!.Count == fragments.Count
            ? previous.Resources
            : TypeResources.Reuse(typeUrl, TypeResources.Sort(all), previous?.Resources);
        return Store(key, g, new Part(snapshot.AllVersion, resources) { Fragments = fragments }, previous);
    }

    /// <summary>A part generated in one go (it depends on the proxy's shape or on every service at once).</summary>
    private TypeResources Whole<T>(Generation g, string key, string typeUrl, Func<List<T>> generate, Func<T, string> name)
        where T : IMessage
    {
        var snapshot = g.Snapshot;
        var previous = Previous(key, snapshot);
        if (previous?.Version == snapshot.AllVersion)
        {
            return previous.Resources;
        }

        var unchanged = previous is not null;
        var fragment = MakeFragment(snapshot, previous?.Whole, typeUrl, name, generate, ref unchanged);
        var resources = unchanged
            ? previous!.Resources
            : TypeResources.Reuse(typeUrl, TypeResources.Sort(Collect(fragment, [], [])), previous?.Resources);
        return Store(key, g, new Part(snapshot.AllVersion, resources) { Whole = fragment }, previous);
    }

    /// <summary>Route configurations, assembled again when anything they read changed, from per service port routes.</summary>
    private TypeResources Routes(Generation g, string key, ResolvedProxy proxy)
    {
        var snapshot = g.Snapshot;
        var previous = Previous(key, snapshot);
        if (previous?.Version == snapshot.AllVersion)
        {
            return previous.Resources;
        }

        if (previous?.Whole is { } whole && whole.Dependencies.ValidFor(snapshot))
        {
            Interlocked.Increment(ref _fragmentsReused);
            return Store(key, g, previous with { Version = snapshot.AllVersion }, previous);
        }

        var oldRoutes = previous?.Routes;
        var routes = new Dictionary<(string Host, int Port), RouteFragment>();
        var unchanged = false;
        var fragment = MakeFragment(snapshot, null, TypeUrls.RouteConfiguration, r => r.Name, () => RouteGenerator.Generate(snapshot, proxy, (service, port) =>
        {
            if (oldRoutes is not null && oldRoutes.TryGetValue((service.Host, port), out var old) && old.Dependencies.ValidFor(snapshot))
            {
                Interlocked.Increment(ref _fragmentsReused);
                MeshReads.Replay(old.Dependencies);
                routes[(service.Host, port)] = old;
                return old.Routes;
            }

            Interlocked.Increment(ref _fragmentsGenerated);
            var (list, deps) = MeshReads.Record(snapshot, () =>
            {
                MeshReads.Lookup(MeshLookup.Service, service.Host, null, null, snapshot.Stamps.Service(service.Host));
                return HttpRouteTranslator.RoutesFor(snapshot, proxy, service, port).ToList();
            });
            var made = new RouteFragment(list, deps);
            routes[(service.Host, port)] = made;
            return list;
        }), ref unchanged, previous?.Whole);
        var resources = TypeResources.Reuse(TypeUrls.RouteConfiguration, TypeResources.Sort(Collect(fragment, [], [])), previous?.Resources);
        return Store(key, g, new Part(snapshot.AllVersion, resources) { Whole = fragment, Routes = routes }, previous);
    }

    /// <summary>Reuses <paramref name="previous"/> while what it read is unchanged, else generates and packs again.</summary>
    private Fragment MakeFragment<T>(MeshSnapshot snapshot, Fragment? previous, string typeUrl, Func<T, string> name, Func<List<T>> generate, ref bool unchanged, Fragment? packedBefore = null)
        where T : IMessage
    {
        if (previous is not null && previous.Dependencies.ValidFor(snapshot))
        {
            Interlocked.Increment(ref _fragmentsReused);
            return previous;
        }

        Interlocked.Increment(ref _fragmentsGenerated);
        var (messages, deps) = MeshReads.Record(snapshot, generate);
        var before = previous ?? packedBefore;
        var same = before is not null && before.Resources.Length == messages.Count;
        var resources = new XdsResource[messages.Count];
        for (var i = 0; i < messages.Count; i++)
        {
            var n = name(messages[i]);
            var old = before is not null && i < before.Resources.Length ? before.Resources[i] : null;
            resources[i] = XdsResource.Create(n, messages[i], typeUrl, old);
            same &= ReferenceEquals(resources[i], old);
        }

        unchanged &= same;
        return new Fragment([.. resources], deps);
    }

    private static List<XdsResource> Collect(Fragment fragment, HashSet<string> seen, List<XdsResource> into)
    {
        foreach (var r in fragment.Resources)
        {
            if (seen.Add(r.Name))
            {
                into.Add(r); // a later duplicate name is dropped
            }
        }

        return into;
    }

    private Part? Previous(string key, MeshSnapshot snapshot)
    {
        if (!_parts.TryGetValue(key, out var part))
        {
            return null;
        }

        part.LastUsed = Math.Max(part.LastUsed, Interlocked.Read(ref _generations));
        return part;
    }

    private TypeResources Store(string key, Generation g, Part part, Part? previous)
    {
        if (!ReferenceEquals(part.Resources, previous?.Resources))
        {
            Interlocked.Increment(ref _generated);
        }

        if (g.Keep)
        {
            part.LastUsed = Interlocked.Read(ref _generations);
            _parts.AddOrUpdate(key, part, (_, old) => old.Version > part.Version ? old : part);
        }

        return part.Resources;
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

            if (snapshot.AllVersion < current.Snapshot.AllVersion)
            {
                return new Generation(snapshot, -1); // a late caller with an old snapshot: compute, do not keep
            }

            var next = new Generation(snapshot, Interlocked.Read(ref _generations) + 1);
            if (ReferenceEquals(Interlocked.CompareExchange(ref _current, next, current), current))
            {
                var n = Interlocked.Increment(ref _generations);
                if (n % KeepUnused == 0)
                {
                    foreach (var (key, part) in _parts)
                    {
                        if (part.LastUsed < n - KeepUnused)
                        {
                            _parts.TryRemove(key, out _);
                        }
                    }
                }

                return next;
            }
        }
    }

    /// <summary>Generated resources and what the generator read to make them.</summary>
    private sealed record Fragment(System.Collections.Immutable.ImmutableArray<XdsResource> Resources, MeshDependencies Dependencies);

    /// <summary>The routes of one service port (shared protobuf objects: nothing mutates them once made).</summary>
    private sealed record RouteFragment(List<Route> Routes, MeshDependencies Dependencies);

    /// <summary>A part as last generated, with the fragments it was made of.</summary>
    private sealed record Part(long Version, TypeResources Resources)
    {
        public Dictionary<string, Fragment>? Fragments { get; init; }

        public Fragment? Whole { get; init; }

        public Dictionary<(string Host, int Port), RouteFragment>? Routes { get; init; }

        public long LastUsed { get; set; }
    }

    private sealed class Generation(MeshSnapshot snapshot, long number)
    {
        private readonly ConcurrentDictionary<string, Lazy<Task<TypeResources>>> _entries = new(StringComparer.Ordinal);
        private readonly ConditionalWeakTable<ProxyNode, ResolvedProxy> _resolved = new();

        public MeshSnapshot Snapshot { get; } = snapshot;

        /// <summary>Whether parts made for this snapshot are kept for later ones (not for a late, older snapshot).</summary>
        public bool Keep => number >= 0;

        /// <summary>Resolved identities, by node object (each connection parses its node once).</summary>
        public ResolvedProxy Resolve(ProxyNode node) => _resolved.GetValue(node, n => ResolvedProxy.Resolve(Snapshot, n));

        /// <summary>The entry for <paramref name="key"/>, generated once: on the thread pool, or on the calling
        /// thread for a synchronous caller (which would otherwise block a pool thread waiting).</summary>
        public Task<TypeResources> Get(string key, Func<TypeResources> build, bool inline) =>
            _entries.GetOrAdd(key, _ => new Lazy<Task<TypeResources>>(() => inline ? Task.FromResult(build()) : Task.Run(build))).Value;

        /// <summary>An entry made of other entries (no generation of its own).</summary>
        public Task<TypeResources> GetComposite(string key, Func<Task<TypeResources>> build) =>
            _entries.GetOrAdd(key, _ => new Lazy<Task<TypeResources>>(build)).Value;
    }
}
