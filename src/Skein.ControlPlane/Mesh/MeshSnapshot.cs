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
    private MeshSnapshot(long version, DateTimeOffset createdAt, ConfigSnapshot config, ServiceRegistry registry, MeshSettings settings)
    {
        Version = version;
        CreatedAt = createdAt;
        Config = config;
        Settings = settings;
        Instances = registry.Instances;
        Services = registry.Services;
        ServicesByHost = Services.ToFrozenDictionary(s => s.Host, StringComparer.OrdinalIgnoreCase);
        InstancesById = Instances.ToFrozenDictionary(i => i.Id, StringComparer.Ordinal);

        var resources = config.Resources;
        VirtualServices = [.. resources.OfType<VirtualService>()];
        DestinationRules = [.. resources.OfType<DestinationRule>()];
        RateLimits = [.. resources.OfType<RateLimit>()];
        PeerAuthentications = [.. resources.OfType<PeerAuthentication>()];
        Workloads = [.. resources.OfType<Workload>()];

        // VirtualServices that sidecars apply, by the hosts they name (qualified in their namespace).
        var exact = new Dictionary<string, VirtualService>(StringComparer.OrdinalIgnoreCase);
        var wildcard = new List<KeyValuePair<string, VirtualService>>();
        var sourceLabelKeys = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var vs in VirtualServices)
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
        VirtualServicesByHost = exact.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        WildcardVirtualServices = [.. wildcard];
        SourceLabelKeys = [.. sourceLabelKeys];
    }

    public long Version { get; }

    public DateTimeOffset CreatedAt { get; }

    public ConfigSnapshot Config { get; }

    public MeshSettings Settings { get; }

    /// <summary>Every workload instance (registered pods and WorkloadEntries), sorted by id.</summary>
    public ImmutableArray<WorkloadInstance> Instances { get; }

    /// <summary>Every service (Kubernetes Services and ServiceEntry hosts), sorted by host.</summary>
    public ImmutableArray<MeshService> Services { get; }

    public FrozenDictionary<string, MeshService> ServicesByHost { get; }

    public FrozenDictionary<string, WorkloadInstance> InstancesById { get; }

    public ImmutableArray<VirtualService> VirtualServices { get; }

    public ImmutableArray<DestinationRule> DestinationRules { get; }

    public ImmutableArray<RateLimit> RateLimits { get; }

    public ImmutableArray<PeerAuthentication> PeerAuthentications { get; }

    public ImmutableArray<Workload> Workloads { get; }

    /// <summary>VirtualServices bound to sidecars by exact (qualified) host.</summary>
    public FrozenDictionary<string, VirtualService> VirtualServicesByHost { get; }

    /// <summary>VirtualServices bound to sidecars by wildcard host, most specific first.</summary>
    public ImmutableArray<KeyValuePair<string, VirtualService>> WildcardVirtualServices { get; }

    /// <summary>Label keys any sourceLabels match reads: the only proxy labels routes depend on.</summary>
    public ImmutableArray<string> SourceLabelKeys { get; }

    public static MeshSnapshot Create(long version, DateTimeOffset createdAt, ConfigSnapshot config, ServiceRegistry registry, MeshSettings settings) =>
        new(version, createdAt, config, registry, settings);

    /// <summary>An empty mesh (no config, no instances).</summary>
    public static MeshSnapshot Empty(MeshSettings settings) =>
        new(0, DateTimeOffset.UnixEpoch, ConfigSnapshot.Empty, new ServiceRegistry([], []), settings);

    /// <summary>The VirtualService sidecars apply to <paramref name="host"/>: exact host first, then the most specific wildcard.</summary>
    public VirtualService? VirtualServiceFor(string host)
    {
        if (VirtualServicesByHost.TryGetValue(host, out var vs))
        {
            return vs;
        }

        foreach (var (pattern, candidate) in WildcardVirtualServices)
        {
            if (MeshConventions.HostMatches(pattern, host))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>
    /// The DestinationRule for <paramref name="host"/> as seen from <paramref name="proxyNamespace"/>: Istio's
    /// lookup order (the proxy's namespace, then the service's, then any), exact host before wildcard, by name.
    /// Rules with a workloadSelector are not supported and skipped.
    /// </summary>
    public DestinationRule? DestinationRuleFor(string host, string proxyNamespace, string serviceNamespace)
    {
        DestinationRule? best = null;
        var bestRank = int.MaxValue;
        foreach (var dr in DestinationRules)
        {
            var spec = dr.Spec!;
            if (spec.WorkloadSelector is not null || spec.Host is null)
            {
                continue;
            }

            var pattern = MeshConventions.Qualify(spec.Host, dr.Namespace);
            int specificity;
            if (string.Equals(pattern, host, StringComparison.OrdinalIgnoreCase))
            {
                specificity = 0;
            }
            else if (pattern.StartsWith('*') && MeshConventions.HostMatches(pattern, host))
            {
                specificity = 1;
            }
            else
            {
                continue;
            }

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
