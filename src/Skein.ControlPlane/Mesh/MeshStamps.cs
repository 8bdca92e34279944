using System.Collections.Immutable;
using Skein.Api.Model;
using Skein.ControlPlane.ConfigStore;
using Skein.ControlPlane.Registry;

namespace Skein.ControlPlane.Mesh;

/// <summary>
/// Change stamps of one snapshot: a number per service (by host), per config resource (by key) and per part
/// read whole, carried over from the previous snapshot where the content is the same and fresh where it
/// changed. Caches compare stamps instead of contents to tell whether what a fragment read has changed.
/// </summary>
internal sealed class MeshStamps
{
    private static long s_next;

    private readonly Dictionary<string, long> _services;
    private readonly Dictionary<ConfigKey, long> _config;
    private readonly long[] _wholes;

    private MeshStamps(Dictionary<string, long> services, Dictionary<ConfigKey, long> config, long[] wholes)
    {
        _services = services;
        _config = config;
        _wholes = wholes;
    }

    private static readonly MeshInput[] Inputs = [.. Enum.GetValues<MeshInput>().Where(i => i != MeshInput.None)];

    private static long Next() => Interlocked.Increment(ref s_next);

    public long Service(string host) => _services.GetValueOrDefault(host);

    public long Config(Resource? resource) => resource is null ? 0 : _config.GetValueOrDefault(ConfigKey.Of(resource));

    /// <summary>The stamp of each part read whole (one array per snapshot: the same array means the same snapshot).</summary>
    internal long[] WholeStamps => _wholes;

    /// <summary>True when every part in <paramref name="wholes"/> has the same stamp here as in <paramref name="other"/>.</summary>
    public bool SameWholes(long[] other, MeshInput wholes)
    {
        for (var i = 0; i < Inputs.Length; i++)
        {
            if ((wholes & Inputs[i]) != 0 && _wholes[i] != other[i])
            {
                return false;
            }
        }

        return true;
    }

    public static MeshStamps Compute(MeshSnapshot next, MeshSnapshot? previous)
    {
        var changed = MeshInput.Version;
        var services = new Dictionary<string, long>(next.ServicesByHost.Count, StringComparer.OrdinalIgnoreCase);
        var prev = previous?.Stamps;
        foreach (var service in next.AllServices)
        {
            if (previous is not null && previous.ServicesByHost.TryGetValueUntracked(service.Host, out var old) && RegistryEquality.Same(old, service))
            {
                services[service.Host] = prev!._services[service.Host];
            }
            else
            {
                services[service.Host] = Next();
                changed |= MeshInput.Services;
            }
        }

        if (previous is null || previous.AllServices.Length != next.AllServices.Length)
        {
            changed |= MeshInput.Services;
        }

        if (previous is null || !RegistryEquality.Same(previous.AllInstances, next.AllInstances))
        {
            changed |= MeshInput.Instances;
        }

        var config = new Dictionary<ConfigKey, long>(next.Config.ByKey.Count);
        var before = previous?.Config.ByKey;
        foreach (var (key, resource) in next.Config.ByKey)
        {
            if (before is not null && before.TryGetValue(key, out var old)
                && (ReferenceEquals(old, resource) || MeshConfigStore.SameContent(old, resource)))
            {
                config[key] = prev!._config[key];
            }
            else
            {
                config[key] = Next();
                changed |= MeshInput.Config | KindInput(key.Kind);
            }
        }

        if (before is not null)
        {
            foreach (var key in before.Keys)
            {
                if (!next.Config.ByKey.ContainsKey(key))
                {
                    changed |= MeshInput.Config | KindInput(key.Kind);
                }
            }
        }

        if (previous is null || !previous.AllSourceLabelKeys.SequenceEqual(next.AllSourceLabelKeys))
        {
            changed |= MeshInput.SourceLabelKeys;
        }

        if (previous is null || !Equals(previous.SettingsUntracked, next.SettingsUntracked))
        {
            changed |= MeshInput.Settings;
        }

        var wholes = new long[Inputs.Length];
        for (var i = 0; i < Inputs.Length; i++)
        {
            wholes[i] = prev is not null && (changed & Inputs[i]) == 0 ? prev._wholes[i] : Next();
        }

        return new MeshStamps(services, config, wholes);
    }

    private static MeshInput KindInput(string kind) => kind switch
    {
        nameof(VirtualService) => MeshInput.VirtualServices,
        nameof(DestinationRule) => MeshInput.DestinationRules,
        nameof(RateLimit) => MeshInput.RateLimits,
        nameof(PeerAuthentication) => MeshInput.PeerAuthentications,
        nameof(Workload) => MeshInput.Workloads,
        nameof(AuthorizationPolicy) => MeshInput.AuthorizationPolicies,
        _ => MeshInput.None,
    };
}

/// <summary>Deep equality of registry records (their arrays and dictionaries compare by reference otherwise).</summary>
internal static class RegistryEquality
{
    public static bool Same(MeshService a, MeshService b) =>
        ReferenceEquals(a, b)
        || (a.Host == b.Host && a.Name == b.Name && a.Namespace == b.Namespace && a.Kind == b.Kind && a.Vip == b.Vip
            && a.Resolution == b.Resolution && a.Headless == b.Headless && a.MeshExternal == b.MeshExternal
            && a.Ports.SequenceEqual(b.Ports) && Same(a.Selector, b.Selector) && Same(a.Endpoints, b.Endpoints));

    public static bool Same(ImmutableArray<ServiceEndpoint> a, ImmutableArray<ServiceEndpoint> b)
    {
        if (a.Length != b.Length)
        {
            return false;
        }

        for (var i = 0; i < a.Length; i++)
        {
            if (!Same(a[i].Instance, b[i].Instance) || !Same(a[i].Ports, b[i].Ports))
            {
                return false;
            }
        }

        return true;
    }

    public static bool Same(ImmutableArray<WorkloadInstance> a, ImmutableArray<WorkloadInstance> b)
    {
        if (a.Length != b.Length)
        {
            return false;
        }

        for (var i = 0; i < a.Length; i++)
        {
            if (!Same(a[i], b[i]))
            {
                return false;
            }
        }

        return true;
    }

    public static bool Same(WorkloadInstance a, WorkloadInstance b) =>
        ReferenceEquals(a, b)
        || (a.Id == b.Id && a.Workload == b.Workload && a.Namespace == b.Namespace && a.Address == b.Address
            && a.ServiceAccount == b.ServiceAccount && a.Healthy == b.Healthy && a.SidecarInboundAddress == b.SidecarInboundAddress
            && a.HasSidecar == b.HasSidecar && a.Locality == b.Locality && a.Weight == b.Weight && a.Source == b.Source
            && a.Ports.SequenceEqual(b.Ports) && Same(a.Labels, b.Labels) && Same(a.PortsByServicePortName, b.PortsByServicePortName));

    public static bool Same<TKey, TValue>(ImmutableSortedDictionary<TKey, TValue>? a, ImmutableSortedDictionary<TKey, TValue>? b)
        where TKey : notnull
    {
        if (ReferenceEquals(a, b))
        {
            return true;
        }

        if (a is null || b is null || a.Count != b.Count)
        {
            return false;
        }

        foreach (var (k, v) in a)
        {
            if (!b.TryGetValue(k, out var other) || !EqualityComparer<TValue>.Default.Equals(v, other))
            {
                return false;
            }
        }

        return true;
    }
}
