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
            result.Add(Assignment(ResourceNames.OutboundCluster(port.Port, null, service.Host), service.Endpoints, port.Port, loopback));
            foreach (var subset in rule?.Spec?.Subsets ?? [])
            {
                if (subset.Name is null)
                {
                    continue;
                }

                result.Add(Assignment(
                    ResourceNames.OutboundCluster(port.Port, subset.Name, service.Host),
                    InSubset(service, subset),
                    port.Port,
                    loopback));
            }
        }
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

    private static Locality ParseLocality(string locality)
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
