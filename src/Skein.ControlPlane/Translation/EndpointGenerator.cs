using Skein.Api.Model;
using Skein.Api.Naming;
using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Registry;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using XdsEndpoint = Skein.Xds.Envoy.Config.Endpoint.V3.Endpoint;

namespace Skein.ControlPlane.Translation;

/// <summary>
/// EDS: one ClusterLoadAssignment per outbound EDS cluster (each service port, and each subset of its
/// DestinationRule), holding the healthy endpoints with the port their service port targets. Unhealthy
/// endpoints are left out, as Istio does by default. Loopback proxies get the destinations' sidecar inbound
/// addresses instead, since nothing captures traffic there.
/// </summary>
internal static class EndpointGenerator
{
    public static List<ClusterLoadAssignment> Generate(MeshSnapshot snapshot, ResolvedProxy proxy)
    {
        var result = new List<ClusterLoadAssignment>();
        foreach (var service in snapshot.Services)
        {
            ForService(snapshot, proxy, service, result);
        }

        result.Sort((a, b) => string.CompareOrdinal(a.ClusterName, b.ClusterName));
        return result;
    }

    /// <summary>The load assignments of one service (the translation cache generates them service by service).</summary>
    public static void ForService(MeshSnapshot snapshot, ResolvedProxy proxy, MeshService service, List<ClusterLoadAssignment> result)
    {
        var loopback = proxy.Mode == ProxyMode.Loopback;
        if (service.Resolution != ServiceResolution.Static || service.Host.StartsWith('*'))
        {
            return;
        }

        var rule = snapshot.DestinationRuleFor(service.Host, proxy.Namespace, service.Namespace);
        foreach (var port in service.Ports)
        {
            var all = Assignment(ResourceNames.OutboundCluster(port.Port, null, service.Host), service.Endpoints, port.Port, loopback);
            ApplyLocalityLoadBalancer(all, Policies.Effective(rule, null, port.Port), proxy);
            result.Add(all);
            foreach (var subset in rule?.Spec?.Subsets ?? [])
            {
                if (subset.Name is null)
                {
                    continue;
                }

                var cla = Assignment(ResourceNames.OutboundCluster(port.Port, subset.Name, service.Host), InSubset(service, subset), port.Port, loopback);
                ApplyLocalityLoadBalancer(cla, Policies.Effective(rule, subset.Name, port.Port), proxy);
                result.Add(cla);
            }
        }
    }

    /// <summary>
    /// What EDS reads from the proxy besides its namespace and mode, for the translation cache's key: the proxy's
    /// locality (locality load balancing orders endpoints relative to it) and, when some DestinationRule uses
    /// <c>failoverPriority</c>, the labels it compares.
    /// </summary>
    public static string ProxyKey(MeshSnapshot snapshot, ResolvedProxy proxy)
    {
        var key = proxy.Locality ?? "";
        foreach (var rule in snapshot.DestinationRules)
        {
            if (UsesFailoverPriority(rule.Spec?.TrafficPolicy) || (rule.Spec?.Subsets ?? []).Any(s => UsesFailoverPriority(s.TrafficPolicy)))
            {
                return key + "|" + string.Join(";", proxy.Labels.Select(kv => kv.Key + "=" + kv.Value));
            }
        }

        return key;

        static bool UsesFailoverPriority(TrafficPolicy? p) =>
            p?.LoadBalancer?.LocalityLbSetting?.FailoverPriority is { Count: > 0 }
            || (p?.PortLevelSettings ?? []).Any(l => l.LoadBalancer?.LocalityLbSetting?.FailoverPriority is { Count: > 0 });
    }

    /// <summary>
    /// Istio's locality load balancing (applyLocalityLoadBalancer), on by default as in Istio's mesh config:
    /// <c>distribute</c> sets locality weights for proxies in its <c>from</c> locality; otherwise, when the
    /// destination has outlier detection (without it Envoy never fails over), endpoints get priorities by how
    /// close their locality is to the proxy's (same region/zone/subzone 0, same region/zone 1, same region 2,
    /// elsewhere 3, or 4 outside the <c>failover</c> region for the proxy's region), or first by
    /// <c>failoverPriority</c> labels; priorities are then renumbered from 0 without gaps.
    /// </summary>
    internal static void ApplyLocalityLoadBalancer(ClusterLoadAssignment cla, TrafficPolicy? policy, ResolvedProxy proxy)
    {
        var setting = policy?.LoadBalancer?.LocalityLbSetting;
        if (setting?.Enabled == false || proxy.Locality is not { Length: > 0 } proxyLocality || cla.Endpoints.Count == 0)
        {
            return;
        }

        var locality = ParseLocality(proxyLocality);
        if (setting?.Distribute is { Count: > 0 } distribute)
        {
            ApplyLocalityWeights(cla, locality, distribute);
            return;
        }

        if (policy?.OutlierDetection is null)
        {
            return;
        }

        if (setting?.FailoverPriority is { Count: > 0 } labels)
        {
            ApplyFailoverPriorities(cla, proxy.Labels, labels);
            if (setting.Failover is { Count: > 0 })
            {
                ApplyLocalityFailover(cla, locality, setting.Failover);
            }
        }
        else
        {
            ApplyLocalityFailover(cla, locality, setting?.Failover);
        }
    }

    /// <summary>Istio's LbPriority: how far an endpoint's locality is from the proxy's.</summary>
    private static int LocalityPriority(Locality proxy, Locality? endpoint)
    {
        if (proxy.Region != (endpoint?.Region ?? ""))
        {
            return 3;
        }

        if (proxy.Zone != (endpoint?.Zone ?? ""))
        {
            return 2;
        }

        return proxy.SubZone != (endpoint?.SubZone ?? "") ? 1 : 0;
    }

    private static void ApplyLocalityFailover(ClusterLoadAssignment cla, Locality proxy, IReadOnlyList<LocalityFailover>? failover)
    {
        foreach (var group in cla.Endpoints)
        {
            var priority = LocalityPriority(proxy, group.Locality);
            if (priority == 3)
            {
                foreach (var f in failover ?? [])
                {
                    if (f.From == proxy.Region)
                    {
                        if (group.Locality is null || group.Locality.Region != f.To)
                        {
                            priority = 4; // not the region this one fails over to
                        }

                        break;
                    }
                }
            }

            // Locality priorities refine any failoverPriority already assigned (at most five locality levels).
            group.Priority = (group.Priority * 5) + (uint)priority;
        }

        Compact(cla);
    }

    /// <summary>Istio's applyFailoverPriorities: endpoints split by how many of the labels (in order) match the proxy's.</summary>
    private static void ApplyFailoverPriorities(ClusterLoadAssignment cla, IReadOnlyDictionary<string, string> proxyLabels, IReadOnlyList<string> failoverPriority)
    {
        var names = new List<string>();
        var overrides = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in failoverPriority)
        {
            var eq = entry.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? entry : entry[..eq];
            names.Add(name);
            if (eq >= 0)
            {
                overrides[name] = entry[(eq + 1)..];
            }
        }

        var split = new List<LocalityLbEndpoints>();
        foreach (var group in cla.Endpoints)
        {
            var byPriority = new SortedDictionary<int, LocalityLbEndpoints>();
            foreach (var lb in group.LbEndpoints)
            {
                var labels = lb.Metadata?.FilterMetadata.TryGetValue("envoy.lb", out var s) == true ? s.Fields : null;
                var priority = 0;
                for (var j = 0; j < names.Count; j++)
                {
                    var want = overrides.TryGetValue(names[j], out var o) ? o : proxyLabels.GetValueOrDefault(names[j]);
                    var have = labels is not null && labels.TryGetValue(names[j], out var v) ? v.StringValue : null;
                    if (want != have)
                    {
                        priority = names.Count - j;
                        break;
                    }
                }

                if (!byPriority.TryGetValue(priority, out var part))
                {
                    part = new LocalityLbEndpoints { Locality = group.Locality?.Clone(), Priority = (uint)priority, LoadBalancingWeight = 0 };
                    byPriority[priority] = part;
                }

                part.LbEndpoints.Add(lb);
                part.LoadBalancingWeight = (part.LoadBalancingWeight ?? 0) + (lb.LoadBalancingWeight ?? 1);
            }

            split.AddRange(byPriority.Values);
        }

        cla.Endpoints.Clear();
        cla.Endpoints.AddRange(split);
        Compact(cla);
    }

    /// <summary>Renumbers priorities 0..N in order, without gaps (Envoy requires contiguous priorities).</summary>
    private static void Compact(ClusterLoadAssignment cla)
    {
        var used = cla.Endpoints.Select(e => e.Priority).Distinct().Order().ToList();
        foreach (var group in cla.Endpoints)
        {
            group.Priority = (uint)used.IndexOf(group.Priority);
        }
    }

    /// <summary>
    /// Istio's applyLocalityWeights: for the first <c>distribute</c> entry whose <c>from</c> matches the proxy, each
    /// destination locality's endpoints get its share of the weight (split by their own weights); localities it
    /// does not name get no traffic.
    /// </summary>
    private static void ApplyLocalityWeights(ClusterLoadAssignment cla, Locality proxy, IReadOnlyList<LocalityDistribute> distribute)
    {
        foreach (var d in distribute)
        {
            if (d.From is null || !LocalityMatch(proxy, d.From))
            {
                continue;
            }

            var unmatched = new HashSet<int>(Enumerable.Range(0, cla.Endpoints.Count));
            foreach (var (to, weight) in (d.To ?? new Dictionary<string, int>()).OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                var matched = new List<(int Index, uint Weight)>();
                uint total = 0;
                for (var i = 0; i < cla.Endpoints.Count; i++)
                {
                    if (unmatched.Contains(i) && LocalityMatch(cla.Endpoints[i].Locality ?? new Locality(), to))
                    {
                        unmatched.Remove(i);
                        var w = cla.Endpoints[i].LoadBalancingWeight ?? 1;
                        matched.Add((i, w));
                        total += w;
                    }
                }

                foreach (var (index, original) in matched)
                {
                    var share = (double)original * weight / Math.Max(1u, total);
                    if (share > 0)
                    {
                        cla.Endpoints[index].LoadBalancingWeight = (uint)Math.Ceiling(share);
                    }
                }
            }

            foreach (var i in unmatched)
            {
                cla.Endpoints[i].LbEndpoints.Clear();
            }

            break;
        }
    }

    /// <summary>Istio's LocalityMatch: "region/zone/subzone" with "*" (or a missing part) matching anything.</summary>
    internal static bool LocalityMatch(Locality locality, string rule)
    {
        var parts = rule.Split('/');
        var region = parts[0];
        var zone = parts.Length > 1 ? parts[1] : "";
        var subzone = parts.Length > 2 ? parts[2] : "";
        return (region == "*" || locality.Region == region)
            && (zone is "*" or "" || locality.Zone == zone)
            && (subzone is "*" or "" || locality.SubZone == subzone);
    }

    /// <summary>The endpoints of a service that carry every label of the subset.</summary>
    public static IEnumerable<ServiceEndpoint> InSubset(MeshService service, Subset? subset) =>
        subset is null ? service.Endpoints : service.Endpoints.Where(e => MeshConventions.Selects(subset.Labels, e.Labels));

    /// <summary>
    /// A load assignment: endpoints grouped by locality, every locality with a weight (gRPC clients drop
    /// localities without one), endpoints with their weight, health and the workload's identity as metadata.
    /// </summary>
    /// <param name="clusterName">The cluster the assignment is for.</param>
    /// <param name="endpoints">The candidate endpoints.</param>
    /// <param name="servicePort">The service port whose target port each endpoint serves.</param>
    /// <param name="loopback">Use the destinations' sidecar inbound addresses.</param>
    /// <param name="dns">A DNS cluster's inline assignment: host names are allowed (EDS needs IP literals).</param>
    public static ClusterLoadAssignment Assignment(string clusterName, IEnumerable<ServiceEndpoint> endpoints, int servicePort, bool loopback, bool dns = false)
    {
        var cla = new ClusterLoadAssignment { ClusterName = clusterName };
        var byLocality = new SortedDictionary<string, LocalityLbEndpoints>(StringComparer.Ordinal);
        var seen = new HashSet<(string, int)>();
        foreach (var endpoint in endpoints)
        {
            if (!endpoint.Healthy || !endpoint.Ports.TryGetValue(servicePort, out var targetPort)
                || (!dns && !System.Net.IPAddress.TryParse(endpoint.Address, out _)))
            {
                continue;
            }

            var address = endpoint.Address;
            var port = targetPort;
            if (loopback && endpoint.Instance.SidecarInboundAddress is { } inbound && System.Net.IPEndPoint.TryParse(inbound, out var ep))
            {
                address = ep.Address.ToString();
                port = ep.Port;
            }

            if (!seen.Add((address, port)))
            {
                continue; // gRPC clients reject duplicate addresses
            }

            var locality = endpoint.Instance.Locality ?? "";
            if (!byLocality.TryGetValue(locality, out var group))
            {
                group = new LocalityLbEndpoints { Locality = ParseLocality(locality), LoadBalancingWeight = 0 };
                byLocality[locality] = group;
            }

            var instance = endpoint.Instance;
            var lb = new LbEndpoint
            {
                Endpoint = new XdsEndpoint { Address = XdsBuild.SocketAddress(address, port) },
                HealthStatus = endpoint.Healthy ? HealthStatus.Healthy : HealthStatus.Unhealthy,
                LoadBalancingWeight = instance.Weight,
                Metadata = new Metadata(),
            };
            lb.Metadata.FilterMetadata["istio"] = XdsBuild.Struct(
            [
                KeyValuePair.Create("workload", instance.Workload),
                KeyValuePair.Create("namespace", instance.Namespace),
                KeyValuePair.Create("service_account", instance.ServiceAccount),
                KeyValuePair.Create("instance", instance.Id),
            ]);
            if (!instance.Labels.IsEmpty)
            {
                lb.Metadata.FilterMetadata["envoy.lb"] = XdsBuild.Struct(instance.Labels);
            }

            group.LbEndpoints.Add(lb);
            group.LoadBalancingWeight = (group.LoadBalancingWeight ?? 0) + instance.Weight;
        }

        cla.Endpoints.AddRange(byLocality.Values);
        return cla;
    }

    internal static Locality ParseLocality(string locality)
    {
        var parts = locality.Split('/');
        return new Locality
        {
            Region = parts.Length > 0 ? parts[0] : "",
            Zone = parts.Length > 1 ? parts[1] : "",
            SubZone = parts.Length > 2 ? parts[2] : "",
        };
    }

}
