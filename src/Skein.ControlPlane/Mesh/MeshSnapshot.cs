using System.Collections.Frozen;
using System.Collections.Immutable;
using Skein.Api.Model;
using Skein.Api.Naming;
using Skein.ControlPlane.ConfigStore;
using Skein.ControlPlane.Registry;

namespace Skein.ControlPlane.Mesh;

/// <summary>Mesh-wide settings that translation depends on (they are part of every snapshot).</summary>
/// <param name="Mtls">Auto mTLS between sidecars (<c>--mtls</c>).</param>
/// <param name="TrustDomain">The SPIFFE trust domain.</param>
internal sealed record MeshSettings(bool Mtls = false, string TrustDomain = MeshConventions.DefaultDomain);

/// <summary>
/// One immutable version of the whole mesh: config, services with VIPs, ports and endpoints, workload
/// instances, and the lookups translation needs. Rebuilt on every change and swapped atomically; translation
/// is a pure function of a snapshot and a proxy (Istio's PushContext).
/// </summary>
internal sealed class MeshSnapshot
{
    private readonly ImmutableArray<MeshService> _services;
    private readonly ImmutableArray<WorkloadInstance> _instances;
    private readonly FrozenDictionary<string, WorkloadInstance> _instancesById;
    private readonly ConfigSnapshot _config;
    private readonly MeshSettings _settings;
    private readonly ImmutableArray<VirtualService> _virtualServices;
    private readonly ImmutableArray<DestinationRule> _destinationRules;
    private readonly ImmutableArray<RateLimit> _rateLimits;
    private readonly ImmutableArray<PeerAuthentication> _peerAuthentications;
    private readonly ImmutableArray<Workload> _workloads;
    private readonly ImmutableArray<AuthorizationPolicy> _authorizationPolicies;
    private readonly FrozenDictionary<string, VirtualService> _virtualServicesByHost;
    private readonly ImmutableArray<KeyValuePair<string, VirtualService>> _wildcardVirtualServices;
    private readonly ImmutableArray<string> _sourceLabelKeys;

    // DestinationRules by qualified host (exact patterns, wildcards included as written), and the wildcard
    // patterns, each with its position in DestinationRules (lookup keeps the original scan's order for ties).
    private readonly Dictionary<string, List<(int Index, string Pattern)>> _rulesByHost = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(int Index, string Pattern)> _wildcardRules = [];
    private readonly Dictionary<(string Namespace, string Name), Workload> _workloadsByName = [];

    private MeshSnapshot(long version, DateTimeOffset createdAt, ConfigSnapshot config, ServiceRegistry registry, MeshSettings settings, MeshSnapshot? previous)
    {
        _version = version;
        _createdAt = createdAt;
        _config = config;
        _settings = settings;
        _instances = registry.Instances;
        _services = registry.Services;
        ServicesByHost = new ServiceIndex(_services.ToFrozenDictionary(s => s.Host, StringComparer.OrdinalIgnoreCase), this);
        _instancesById = _instances.ToFrozenDictionary(i => i.Id, StringComparer.Ordinal);

        var resources = config.Resources;
        _virtualServices = [.. resources.OfType<VirtualService>()];
        _destinationRules = [.. resources.OfType<DestinationRule>()];
        _rateLimits = [.. resources.OfType<RateLimit>()];
        _peerAuthentications = [.. resources.OfType<PeerAuthentication>()];
        _workloads = [.. resources.OfType<Workload>()];
        _authorizationPolicies = [.. resources.OfType<AuthorizationPolicy>()];
        foreach (var w in _workloads)
        {
            _workloadsByName.TryAdd((w.Namespace, w.Name), w);
        }

        for (var i = 0; i < _destinationRules.Length; i++)
        {
            var dr = _destinationRules[i];
            if (dr.Spec is not { WorkloadSelector: null, Host: { } drHost })
            {
                continue; // rules with a workloadSelector are not supported
            }

            var pattern = MeshConventions.Qualify(drHost, dr.Namespace);
            if (!_rulesByHost.TryGetValue(pattern, out var list))
            {
                _rulesByHost[pattern] = list = [];
            }

            list.Add((i, pattern));
            if (pattern.StartsWith('*'))
            {
                _wildcardRules.Add((i, pattern));
            }
        }

        // VirtualServices that sidecars apply, by the hosts they name (qualified in their namespace).
        var exact = new Dictionary<string, VirtualService>(StringComparer.OrdinalIgnoreCase);
        var wildcard = new List<KeyValuePair<string, VirtualService>>();
        var sourceLabelKeys = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var vs in _virtualServices)
        {
            var spec = vs.Spec!;
            if (spec.Gateways is { Count: > 0 } gateways && !gateways.Contains("mesh"))
            {
                continue;
            }

            foreach (var host in spec.Hosts ?? [])
            {
                var fqdn = MeshConventions.Qualify(host, vs.Namespace);
                if (fqdn.StartsWith('*'))
                {
                    wildcard.Add(KeyValuePair.Create(fqdn, vs));
                }
                else
                {
                    exact.TryAdd(fqdn, vs); // the analyzer refuses two VirtualServices for one host
                }
            }

            foreach (var route in spec.Http ?? [])
            {
                foreach (var match in route.Match ?? [])
                {
                    sourceLabelKeys.UnionWith(match.SourceLabels?.Keys ?? []);
                }
            }

            foreach (var route in spec.Tcp ?? [])
            {
                foreach (var match in route.Match ?? [])
                {
                    sourceLabelKeys.UnionWith(match.SourceLabels?.Keys ?? []);
                }
            }
        }

        // Longest (most specific) wildcard first.
        wildcard.Sort((a, b) => b.Key.Length != a.Key.Length ? b.Key.Length.CompareTo(a.Key.Length) : string.CompareOrdinal(a.Key, b.Key));
        _virtualServicesByHost = exact.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        _wildcardVirtualServices = [.. wildcard];
        _sourceLabelKeys = [.. sourceLabelKeys];
        Stamps = MeshStamps.Compute(this, previous);
    }

    private readonly long _version;
    private readonly DateTimeOffset _createdAt;

    // Every member below records that it was read (MeshReads), so that caches know what a generator used.
    public long Version => Whole(MeshInput.Version, _version);

    public DateTimeOffset CreatedAt => Whole(MeshInput.Version, _createdAt);

    public ConfigSnapshot Config => Whole(MeshInput.Config, _config);

    public MeshSettings Settings => Whole(MeshInput.Settings, _settings);

    /// <summary>Every workload instance (registered pods and WorkloadEntries), sorted by id.</summary>
    public ImmutableArray<WorkloadInstance> Instances => Whole(MeshInput.Instances, _instances);

    /// <summary>Every service (Kubernetes Services and ServiceEntry hosts), sorted by host.</summary>
    public ImmutableArray<MeshService> Services => Whole(MeshInput.Services, _services);

    /// <summary>Services by host; each lookup is recorded with the stamp of the service it found.</summary>
    public ServiceIndex ServicesByHost { get; }

    public FrozenDictionary<string, WorkloadInstance> InstancesById => Whole(MeshInput.Instances, _instancesById);

    public ImmutableArray<VirtualService> VirtualServices => Whole(MeshInput.VirtualServices, _virtualServices);

    public ImmutableArray<DestinationRule> DestinationRules => Whole(MeshInput.DestinationRules, _destinationRules);

    public ImmutableArray<RateLimit> RateLimits => Whole(MeshInput.RateLimits, _rateLimits);

    public ImmutableArray<PeerAuthentication> PeerAuthentications => Whole(MeshInput.PeerAuthentications, _peerAuthentications);

    public ImmutableArray<Workload> Workloads => Whole(MeshInput.Workloads, _workloads);

    /// <summary>Every AuthorizationPolicy (in config order: kind, namespace, name).</summary>
    public ImmutableArray<AuthorizationPolicy> AuthorizationPolicies => Whole(MeshInput.AuthorizationPolicies, _authorizationPolicies);

    /// <summary>VirtualServices bound to sidecars by exact (qualified) host.</summary>
    public FrozenDictionary<string, VirtualService> VirtualServicesByHost => Whole(MeshInput.VirtualServices, _virtualServicesByHost);

    /// <summary>VirtualServices bound to sidecars by wildcard host, most specific first.</summary>
    public ImmutableArray<KeyValuePair<string, VirtualService>> WildcardVirtualServices => Whole(MeshInput.VirtualServices, _wildcardVirtualServices);

    /// <summary>Label keys any sourceLabels match reads: the only proxy labels routes depend on.</summary>
    public ImmutableArray<string> SourceLabelKeys => Whole(MeshInput.SourceLabelKeys, _sourceLabelKeys);

    /// <summary>Change stamps relative to the previous snapshot (caches).</summary>
    public MeshStamps Stamps { get; }

    // Unrecorded access for the cache's own bookkeeping (enumerating services, comparing snapshots).
    internal long AllVersion => _version;

    internal ImmutableArray<MeshService> AllServices => _services;

    internal ImmutableArray<WorkloadInstance> AllInstances => _instances;

    internal ImmutableArray<string> AllSourceLabelKeys => _sourceLabelKeys;

    internal MeshSettings SettingsUntracked => _settings;

    internal FrozenDictionary<string, WorkloadInstance> InstancesByIdUntracked => _instancesById;

    private static T Whole<T>(MeshInput input, T value)
    {
        MeshReads.Whole(input);
        return value;
    }

    /// <param name="previous">The snapshot this one follows, if any: stamps of what did not change carry over.</param>
    public static MeshSnapshot Create(long version, DateTimeOffset createdAt, ConfigSnapshot config, ServiceRegistry registry, MeshSettings settings, MeshSnapshot? previous = null) =>
        new(version, createdAt, config, registry, settings, previous);

    /// <summary>An empty mesh (no config, no instances).</summary>
    public static MeshSnapshot Empty(MeshSettings settings) =>
        new(0, DateTimeOffset.UnixEpoch, ConfigSnapshot.Empty, new ServiceRegistry([], []), settings, null);

    /// <summary>The VirtualService sidecars apply to <paramref name="host"/>: exact host first, then the most specific wildcard.</summary>
    public VirtualService? VirtualServiceFor(string host)
    {
        var vs = FindVirtualService(host);
        MeshReads.Lookup(MeshLookup.VirtualService, host, null, null, Stamps.Config(vs));
        return vs;
    }

    /// <summary>
    /// The DestinationRule for <paramref name="host"/> as seen from <paramref name="proxyNamespace"/>: Istio's
    /// lookup order (the proxy's namespace, then the service's, then any), exact host before wildcard, by name.
    /// Rules with a workloadSelector are not supported and skipped.
    /// </summary>
    public DestinationRule? DestinationRuleFor(string host, string proxyNamespace, string serviceNamespace)
    {
        var dr = FindDestinationRule(host, proxyNamespace, serviceNamespace);
        MeshReads.Lookup(MeshLookup.DestinationRule, host, proxyNamespace, serviceNamespace, Stamps.Config(dr));
        return dr;
    }

    /// <summary>The Workload resource of a workload, if any (not recorded: proxy resolution only).</summary>
    internal Workload? WorkloadFor(string ns, string name) => _workloadsByName.GetValueOrDefault((ns, name));

    /// <summary>The stamp <paramref name="read"/> would record on this snapshot.</summary>
    internal long StampOf(MeshRead read) => read.Kind switch
    {
        MeshLookup.Service => Stamps.Service(read.Host),
        MeshLookup.VirtualService => Stamps.Config(FindVirtualService(read.Host)),
        _ => Stamps.Config(FindDestinationRule(read.Host, read.ProxyNamespace!, read.ServiceNamespace!)),
    };

    private VirtualService? FindVirtualService(string host)
    {
        if (_virtualServicesByHost.TryGetValue(host, out var vs))
        {
            return vs;
        }

        foreach (var (pattern, candidate) in _wildcardVirtualServices)
        {
            if (MeshConventions.HostMatches(pattern, host))
            {
                return candidate;
            }
        }

        return null;
    }

    private DestinationRule? FindDestinationRule(string host, string proxyNamespace, string serviceNamespace)
    {
        // Candidates: rules whose pattern is the host itself, then wildcard patterns that match it, in the
        // order of DestinationRules (ties between equal ranks and names go to the first, as in a full scan).
        List<(int Index, int Specificity)>? candidates = null;
        if (_rulesByHost.TryGetValue(host, out var exact))
        {
            candidates = [];
            foreach (var (index, _) in exact)
            {
                candidates.Add((index, 0));
            }
        }

        foreach (var (index, pattern) in _wildcardRules)
        {
            if (!string.Equals(pattern, host, StringComparison.OrdinalIgnoreCase) && MeshConventions.HostMatches(pattern, host))
            {
                (candidates ??= []).Add((index, 1));
            }
        }

        if (candidates is null)
        {
            return null;
        }

        candidates.Sort((a, b) => a.Index.CompareTo(b.Index));
        DestinationRule? best = null;
        var bestRank = int.MaxValue;
        foreach (var (index, specificity) in candidates)
        {
            var dr = _destinationRules[index];
            var nsRank = dr.Namespace == proxyNamespace ? 0 : dr.Namespace == serviceNamespace ? 1 : 2;
            var rank = (nsRank * 2) + specificity;
            if (rank < bestRank || (rank == bestRank && string.CompareOrdinal(dr.Name, best!.Name) < 0))
            {
                best = dr;
                bestRank = rank;
            }
        }

        return best;
    }
}

/// <summary>Services by host (case-insensitive); lookups are recorded for caches (<see cref="MeshReads"/>).</summary>
internal sealed class ServiceIndex(FrozenDictionary<string, MeshService> byHost, MeshSnapshot snapshot)
{
    public int Count => byHost.Count;

    public MeshService this[string host] => TryGetValue(host, out var s) ? s : throw new KeyNotFoundException(host);

    public bool TryGetValue(string host, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out MeshService service)
    {
        var found = byHost.TryGetValue(host, out service);
        MeshReads.Lookup(MeshLookup.Service, host, null, null, found ? snapshot.Stamps.Service(host) : 0);
        return found;
    }

    public bool ContainsKey(string host) => TryGetValue(host, out _);

    internal bool TryGetValueUntracked(string host, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out MeshService service) =>
        byHost.TryGetValue(host, out service);
}
