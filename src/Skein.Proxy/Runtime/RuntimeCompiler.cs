using System.Collections.Frozen;
using System.Collections.Immutable;
using Skein.Proxy.LoadBalancing;
using Skein.Proxy.Protocol;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;

namespace Skein.Proxy.Runtime;

/// <summary>The outcome of compiling a set of xDS resources.</summary>
/// <param name="Config">The snapshot, when there were no errors and nothing was missing.</param>
/// <param name="Errors">Validation errors (a NACK's error detail), each naming the resource and field.</param>
/// <param name="MissingRoutes">RDS names referenced by listeners but not (yet) received.</param>
/// <param name="MissingEndpoints">EDS names referenced by clusters but not (yet) received.</param>
internal sealed record CompileResult(
    RuntimeConfig? Config,
    ImmutableArray<string> Errors,
    ImmutableArray<string> MissingRoutes,
    ImmutableArray<string> MissingEndpoints)
{
    public bool IsValid => Errors.IsEmpty;

    public bool IsComplete => MissingRoutes.IsEmpty && MissingEndpoints.IsEmpty;
}

/// <summary>
/// Turns xDS resources into a <see cref="RuntimeConfig"/> (linkerd style: protos stop here and never reach the
/// request path). Collects every error rather than stopping at the first. Reuses the long-lived cluster state
/// (connection pools, balancer state, counters) of the previous snapshot where a cluster did not change.
/// </summary>
internal sealed partial class RuntimeCompiler(
    HttpFilterRegistry filters,
    LoadBalancerRegistry balancers,
    IUpstreamClientFactory clients,
    TimeProvider time)
{
    private long _generation;

    /// <summary>Compiles <paramref name="resources"/>.</summary>
    /// <param name="resources">Every resource of every type.</param>
    /// <param name="previous">The snapshot in service, whose cluster state is reused.</param>
    /// <param name="treatMissingAsEmpty">Compile even when RDS/EDS names are missing (empty route table / no endpoints),
    /// as Envoy does after its initial fetch timeout.</param>
    public CompileResult Compile(XdsResourceSet resources, RuntimeConfig previous, bool treatMissingAsEmpty = false)
    {
        var errors = new List<string>();
        var missingRoutes = new SortedSet<string>(StringComparer.Ordinal);
        var missingEndpoints = new SortedSet<string>(StringComparer.Ordinal);

        var secrets = new Dictionary<string, Secret>(StringComparer.Ordinal);
        foreach (var s in resources.SecretMessages)
        {
            if (string.IsNullOrEmpty(s.Name) || !secrets.TryAdd(s.Name, s))
            {
                errors.Add($"secret {ProtoValues.Quote(s.Name)}: name must be unique and not empty");
            }
        }

        var assignments = new Dictionary<string, ClusterLoadAssignment>(StringComparer.Ordinal);
        foreach (var cla in resources.EndpointMessages)
        {
            if (string.IsNullOrEmpty(cla.ClusterName) || !assignments.TryAdd(cla.ClusterName, cla))
            {
                errors.Add($"cluster_load_assignment {ProtoValues.Quote(cla.ClusterName)}: cluster_name must be unique and not empty");
            }
        }

        var clusters = new Dictionary<string, ClusterEntry>(StringComparer.Ordinal);
        foreach (var c in resources.ClusterMessages)
        {
            var entry = CompileCluster(c, assignments, previous, errors, missingEndpoints, treatMissingAsEmpty);
            if (entry is not null && !clusters.TryAdd(entry.Name, entry))
            {
                errors.Add($"cluster {ProtoValues.Quote(entry.Name)}: duplicate cluster name");
            }
        }

        var frozenClusters = clusters.ToFrozenDictionary(StringComparer.Ordinal);
        var routes = new Dictionary<string, RouteTable>(StringComparer.Ordinal);
        foreach (var rc in resources.RouteMessages)
        {
            var table = CompileRouteTable(rc, frozenClusters, errors, $"route_configuration {ProtoValues.Quote(rc.Name)}");
            if (table is not null && !routes.TryAdd(table.Name, table))
            {
                errors.Add($"route_configuration {ProtoValues.Quote(rc.Name)}: duplicate name");
            }
        }

        var listeners = ImmutableArray.CreateBuilder<ListenerRuntime>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var l in resources.ListenerMessages)
        {
            if (!names.Add(l.Name))
            {
                errors.Add($"listener {ProtoValues.Quote(l.Name)}: duplicate name");
                continue;
            }

            var compiled = CompileListener(l, routes, frozenClusters, errors, missingRoutes, treatMissingAsEmpty);
            if (compiled is not null)
            {
                listeners.Add(compiled);
            }
        }

        if (errors.Count > 0 || (!treatMissingAsEmpty && (missingRoutes.Count > 0 || missingEndpoints.Count > 0)))
        {
            return new CompileResult(null, [.. errors], [.. missingRoutes], [.. missingEndpoints]);
        }

        var config = new RuntimeConfig
        {
            Generation = Interlocked.Increment(ref _generation),
            Resources = resources,
            Listeners = new ListenerTable(listeners.ToImmutable()),
            Routes = routes.ToFrozenDictionary(StringComparer.Ordinal),
            Clusters = frozenClusters,
            Secrets = secrets.ToFrozenDictionary(StringComparer.Ordinal),
        };
        return new CompileResult(config, [], [.. missingRoutes], [.. missingEndpoints]);
    }

    /// <summary>Retires the clusters of <paramref name="previous"/> that <paramref name="next"/> no longer uses.</summary>
    public void RetireUnused(RuntimeConfig previous, RuntimeConfig next)
    {
        foreach (var entry in next.Clusters.Values)
        {
            // Outlier detection counts ejections against the hosts now in service.
            entry.Runtime.Outlier?.SetHosts(entry.Endpoints.All);
        }

        foreach (var (name, entry) in previous.Clusters)
        {
            if (!next.Clusters.TryGetValue(name, out var kept) || !ReferenceEquals(kept.Runtime, entry.Runtime))
            {
                entry.Runtime.Retire(time);
            }
        }
    }

    private ClusterEntry? CompileCluster(
        Cluster c,
        Dictionary<string, ClusterLoadAssignment> assignments,
        RuntimeConfig previous,
        List<string> errors,
        SortedSet<string> missingEndpoints,
        bool treatMissingAsEmpty)
    {
        var where = $"cluster {ProtoValues.Quote(c.Name)}";
        var before = errors.Count;
        var settings = CompileClusterSettings(c, where, errors);
        if (settings is null || errors.Count > before)
        {
            return null;
        }

        ClusterRuntime runtime;
        if (previous.Clusters.TryGetValue(c.Name, out var old) && !old.Runtime.IsRetired && old.Runtime.Proto.Equals(c))
        {
            runtime = old.Runtime;
        }
        else
        {
            runtime = new ClusterRuntime(c, settings, balancers.Create(settings), clients, time);
        }

        ClusterLoadAssignment? cla = null;
        switch (settings.Discovery)
        {
            case DiscoveryKind.Eds:
                if (!assignments.TryGetValue(settings.EdsServiceName, out cla))
                {
                    missingEndpoints.Add(settings.EdsServiceName);
                    if (!treatMissingAsEmpty)
                    {
                        return null;
                    }
                }

                break;
            case DiscoveryKind.OriginalDestination:
                break;
            default:
                cla = c.LoadAssignment;
                break;
        }

        var endpoints = cla is null
            ? EndpointSet.Empty
            : CompileEndpoints(cla, settings, runtime.Outlier, old?.Endpoints, $"{where} endpoints", errors);
        return new ClusterEntry(runtime, endpoints);
    }

    private static EndpointSet CompileEndpoints(
        ClusterLoadAssignment cla, ClusterSettings settings, Resilience.OutlierDetector? outlier, EndpointSet? previous, string where, List<string> errors)
    {
        var oldStats = new Dictionary<string, EndpointStats>(StringComparer.Ordinal);
        if (previous is not null)
        {
            foreach (var e in previous.All)
            {
                oldStats.TryAdd(e.Address, e.Stats);
            }
        }

        var list = ImmutableArray.CreateBuilder<UpstreamEndpoint>();
        for (var i = 0; i < cla.Endpoints.Count; i++)
        {
            var locality = cla.Endpoints[i];
            var loc = locality.Locality is null ? string.Empty : $"{locality.Locality.Region}/{locality.Locality.Zone}/{locality.Locality.SubZone}";
            for (var j = 0; j < locality.LbEndpoints.Count; j++)
            {
                var lb = locality.LbEndpoints[j];
                var path = $"{where}[{i}].lb_endpoints[{j}].endpoint.address";
                var sa = lb.Endpoint?.Address?.SocketAddress;
                if (sa is null || string.IsNullOrEmpty(sa.Address))
                {
                    errors.Add($"{path}: socket_address with an address is required");
                    continue;
                }

                if (sa.PortSpecifierCase != Skein.Xds.Envoy.Config.Core.V3.SocketAddress.PortSpecifierOneofCase.PortValue
                    || sa.PortValue is 0 or > 65535)
                {
                    errors.Add($"{path}.port_value: must be 1..65535");
                    continue;
                }

                var host = sa.Address;
                var port = (int)sa.PortValue;
                var address = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : $"{host}:{port}";
                list.Add(new UpstreamEndpoint(
                    host,
                    port,
                    (EndpointHealth)(int)lb.HealthStatus,
                    (int)(lb.LoadBalancingWeight ?? 1),
                    loc,
                    ProtoValues.Labels(lb.Metadata, "istio", "envoy.lb"),
                    oldStats.TryGetValue(address, out var stats) ? stats : new EndpointStats())
                {
                    Address = address,
                    // Always http:// for the handler: TLS clusters originate TLS in UpstreamClientFactory's connect callback.
                    HttpPrefix = "http://" + address,
                    Priority = (int)locality.Priority,
                    LocalityWeight = (int)(locality.LoadBalancingWeight ?? 0),
                });
            }
        }

        return new EndpointSet(list.ToImmutable(), settings.HealthyPanicThresholdPercent, outlier, settings.LocalityWeighted);
    }
}
