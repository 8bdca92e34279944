using Skein.Api.Model;
using Skein.Api.Naming;
using Skein.ControlPlane.Mesh;

namespace Skein.ControlPlane.Translation;

/// <summary>DestinationRule and PeerAuthentication rules, as Istio applies them.</summary>
internal static class Policies
{
    /// <summary>
    /// Istio's MergeTrafficPolicy: the subset's top-level settings replace the rule's whole (field by field),
    /// then a port-level setting for <paramref name="port"/> replaces loadBalancer, connectionPool,
    /// outlierDetection and tls together (port-level policies do not inherit).
    /// </summary>
    public static TrafficPolicy? Merge(TrafficPolicy? original, TrafficPolicy? subset, int port)
    {
        if (subset is null)
        {
            return original;
        }

        if (original?.PortLevelSettings is { Count: > 0 })
        {
            original = Merge(null, original, port);
        }

        var merged = new TrafficPolicy
        {
            LoadBalancer = subset.LoadBalancer ?? original?.LoadBalancer,
            ConnectionPool = subset.ConnectionPool ?? original?.ConnectionPool,
            OutlierDetection = subset.OutlierDetection ?? original?.OutlierDetection,
            Tls = subset.Tls ?? original?.Tls,
            Tunnel = subset.Tunnel ?? original?.Tunnel,
            ProxyProtocol = subset.ProxyProtocol ?? original?.ProxyProtocol,
            RetryBudget = subset.RetryBudget ?? original?.RetryBudget,
        };

        foreach (var p in subset.PortLevelSettings ?? [])
        {
            if (p.Port?.Number == port)
            {
                merged = merged with
                {
                    LoadBalancer = p.LoadBalancer,
                    ConnectionPool = p.ConnectionPool,
                    OutlierDetection = p.OutlierDetection,
                    Tls = p.Tls,
                };
                break;
            }
        }

        return merged;
    }

    /// <summary>The effective policy for one port of a host, optionally for one subset.</summary>
    public static TrafficPolicy? Effective(DestinationRule? rule, string? subsetName, int port)
    {
        if (rule?.Spec is not { } spec)
        {
            return null;
        }

        var top = Merge(null, spec.TrafficPolicy, port);
        if (subsetName is null)
        {
            return top;
        }

        var subsetPolicy = spec.Subsets?.FirstOrDefault(s => s.Name == subsetName)?.TrafficPolicy;
        return subsetPolicy is null ? top : Merge(spec.TrafficPolicy, subsetPolicy, port);
    }

    /// <summary>
    /// The mTLS mode a workload's inbound side enforces on <paramref name="port"/>: the most specific
    /// PeerAuthentication (workload selector, then namespace, then mesh root), UNSET inheriting from the next;
    /// PERMISSIVE when nothing says otherwise.
    /// </summary>
    public static MtlsMode InboundMtlsMode(MeshSnapshot snapshot, string ns, IReadOnlyDictionary<string, string> labels, int port)
    {
        PeerAuthentication? workload = null;
        PeerAuthentication? namespaceWide = null;
        PeerAuthentication? mesh = null;
        foreach (var pa in snapshot.PeerAuthentications.OrderBy(p => p.Namespace, StringComparer.Ordinal).ThenBy(p => p.Name, StringComparer.Ordinal))
        {
            var selector = pa.Spec?.Selector?.MatchLabels;
            if (pa.Namespace == ns && selector is not null && MeshConventions.Selects(selector, labels))
            {
                workload ??= pa;
            }
            else if (pa.Namespace == ns && selector is null)
            {
                namespaceWide ??= pa;
            }
            else if (MeshConventions.RootNamespaces.Contains(pa.Namespace) && selector is null)
            {
                mesh ??= pa;
            }
        }

        var portKey = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (workload?.Spec?.PortLevelMtls is { } byPort && byPort.TryGetValue(portKey, out var portMtls) && portMtls.Mode is { } pm && pm != MtlsMode.Unset)
        {
            return pm;
        }

        foreach (var pa in new[] { workload, namespaceWide, mesh })
        {
            if (pa?.Spec?.Mtls?.Mode is { } mode && mode != MtlsMode.Unset)
            {
                return mode;
            }
        }

        return MtlsMode.Permissive;
    }
}
