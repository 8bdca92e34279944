using System.Collections.Frozen;
using Skein.Proxy.LoadBalancing;
using Skein.Proxy.Runtime;
using XdsCluster = Skein.Xds.Envoy.Config.Cluster.V3.Cluster;

namespace Skein.Proxy.Routing;

/// <summary>
/// Istio's <c>PassthroughCluster</c> for HTTP to destinations no listener knows (outbound traffic policy
/// ALLOW_ANY): forwards to the original destination (or, in explicit mode, the Host header's authority).
/// Lives for the whole process, outside any snapshot.
/// </summary>
internal sealed class PassthroughRoute
{
    public const string ClusterName = "PassthroughCluster";

    public PassthroughRoute(IUpstreamClientFactory clients, LoadBalancerRegistry balancers)
    {
        var settings = new ClusterSettings(
            ClusterName,
            DiscoveryKind.OriginalDestination,
            ClusterName,
            "CLUSTER_PROVIDED",
            2,
            TimeSpan.FromSeconds(10),
            CircuitBreakerSettings.Default with { MaxConnections = int.MaxValue, MaxRequests = int.MaxValue, MaxPendingRequests = int.MaxValue },
            null,
            null,
            UpstreamHttpSettings.Default with { Protocol = UpstreamProtocol.UseDownstream },
            0,
            FrozenDictionary<string, string>.Empty);
        var proto = new XdsCluster { Name = ClusterName, Type = XdsCluster.Types.DiscoveryType.OriginalDst, LbPolicy = XdsCluster.Types.LbPolicy.ClusterProvided };
        Cluster = new ClusterEntry(new ClusterRuntime(proto, settings, balancers.Create(settings), clients), EndpointSet.Empty);
        var table = new RouteTable
        {
            Name = ClusterName,
            ExactDomains = FrozenDictionary<string, VirtualHostRuntime>.Empty,
            SuffixDomains = [],
            PrefixDomains = [],
            RequestHeaders = HeaderMutations.None,
            ResponseHeaders = HeaderMutations.None,
            FilterConfigs = PerFilterConfig.Empty,
            VirtualHosts = [],
        };
        var host = new VirtualHostRuntime
        {
            Name = "allow_any",
            Domains = ["*"],
            Routes = [],
            RequestHeaders = HeaderMutations.None,
            ResponseHeaders = HeaderMutations.None,
            FilterConfigs = PerFilterConfig.Empty,
        };
        host.Table = table;
        Route = new RouteRuntime
        {
            Name = "allow_any",
            Match = new RouteMatchRuntime(PathMatchKind.Prefix, "/", null, true, [], [], false, null),
            Action = new ForwardRouteAction
            {
                Cluster = new WeightedClusterEntry(ClusterName, 1, Cluster, HeaderMutations.None, HeaderMutations.None, PerFilterConfig.Empty),
                Timeout = null,
            },
            RequestHeaders = HeaderMutations.None,
            ResponseHeaders = HeaderMutations.None,
            FilterConfigs = PerFilterConfig.Empty,
        };
        Route.VirtualHost = host;
    }

    public ClusterEntry Cluster { get; }

    public RouteRuntime Route { get; }
}
