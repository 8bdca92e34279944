using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Translation;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;

namespace Skein.ControlPlane.Tests.Translation;

/// <summary>Istio's locality load balancing in EDS: priorities relative to the proxy's locality, failover regions, label priorities, distribute weights.</summary>
public sealed class LocalityLoadBalancingTests
{
    private const string Endpoints = """
        apiVersion: v1
        kind: Service
        metadata: {name: reviews}
        spec:
          selector: {app: reviews}
          ports: [{name: http, port: 9080}]
        ---
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {name: r-local}
        spec: {address: 10.0.0.1, labels: {app: reviews, rack: r1}, ports: {http: 9080}, locality: us-east/us-east-1a/rack1}
        ---
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {name: r-zone}
        spec: {address: 10.0.0.2, labels: {app: reviews, rack: r2}, ports: {http: 9080}, locality: us-east/us-east-1a/rack2}
        ---
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {name: r-region}
        spec: {address: 10.0.0.3, labels: {app: reviews, rack: r3}, ports: {http: 9080}, locality: us-east/us-east-1b}
        ---
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {name: r-west}
        spec: {address: 10.0.0.4, labels: {app: reviews}, ports: {http: 9080}, locality: us-west/us-west-1a}
        ---
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {name: r-eu}
        spec: {address: 10.0.0.5, labels: {app: reviews}, ports: {http: 9080}, locality: eu-west/eu-west-1a}
        ---
        """;

    [Fact]
    public void OutlierDetection_DefaultFailover_PrioritiesByLocalityDistance()
    {
        var eds = Generate(Endpoints + Rule("outlierDetection: {consecutive5xxErrors: 3}"));

        Assert.Equal(
            new Dictionary<string, uint> { ["10.0.0.1"] = 0, ["10.0.0.2"] = 1, ["10.0.0.3"] = 2, ["10.0.0.4"] = 3, ["10.0.0.5"] = 3 },
            Priorities(eds));
    }

    [Fact]
    public void FailoverRegion_OtherRegionsComeAfterIt()
    {
        var eds = Generate(Endpoints + Rule("""
            outlierDetection: {consecutive5xxErrors: 3}
            loadBalancer:
              localityLbSetting:
                failover: [{from: us-east, to: eu-west}]
            """));

        Assert.Equal(
            new Dictionary<string, uint> { ["10.0.0.1"] = 0, ["10.0.0.2"] = 1, ["10.0.0.3"] = 2, ["10.0.0.5"] = 3, ["10.0.0.4"] = 4 },
            Priorities(eds));
    }

    [Fact]
    public void FailoverPriorityLabels_MatchingLabelsFirst()
    {
        var eds = Generate(Endpoints + Rule("""
            outlierDetection: {consecutive5xxErrors: 3}
            loadBalancer:
              localityLbSetting:
                failoverPriority: [rack]
            """), labels: new Dictionary<string, string> { ["app"] = "frontend", ["rack"] = "r3" });

        var p = Priorities(eds);
        Assert.Equal(0u, p["10.0.0.3"]);
        Assert.Equal((1u, 1u, 1u, 1u), (p["10.0.0.1"], p["10.0.0.2"], p["10.0.0.4"], p["10.0.0.5"]));
    }

    [Fact]
    public void NoOutlierDetection_NoFailoverPriorities()
    {
        var eds = Generate(Endpoints + Rule("loadBalancer: {simple: ROUND_ROBIN}"));

        Assert.All(Priorities(eds).Values, p => Assert.Equal(0u, p));
    }

    [Fact]
    public void Disabled_NoPriorities()
    {
        var eds = Generate(Endpoints + Rule("""
            outlierDetection: {consecutive5xxErrors: 3}
            loadBalancer:
              localityLbSetting: {enabled: false}
            """));

        Assert.All(Priorities(eds).Values, p => Assert.Equal(0u, p));
    }

    [Fact]
    public void Distribute_WeightsForTheProxysLocality_OthersDropped()
    {
        var eds = Generate(Endpoints + Rule("""
            loadBalancer:
              localityLbSetting:
                distribute:
                  - from: us-east/us-east-1a/*
                    to: {"us-east/us-east-1a/*": 80, "us-west/*": 20}
            """));

        var cla = eds.Single(c => c.ClusterName == "outbound|9080||reviews.default.svc.cluster.local");
        uint WeightOf(string address) => cla.Endpoints.Single(g => g.LbEndpoints.Any(e => e.Endpoint.Address.SocketAddress.Address == address)).LoadBalancingWeight!.Value;
        Assert.Equal(40u, WeightOf("10.0.0.1")); // 80 split over two rack localities
        Assert.Equal(40u, WeightOf("10.0.0.2"));
        Assert.Equal(20u, WeightOf("10.0.0.4"));
        Assert.DoesNotContain(cla.Endpoints.SelectMany(g => g.LbEndpoints), e => e.Endpoint.Address.SocketAddress.Address is "10.0.0.3" or "10.0.0.5");
    }

    [Fact]
    public void ClusterGetsLocalityWeightedConfig_WithFailoverAndOutlierDetection()
    {
        var snapshot = TestMesh.Build(Endpoints + Rule("""
            outlierDetection: {consecutive5xxErrors: 3}
            loadBalancer:
              localityLbSetting:
                failover: [{from: us-east, to: eu-west}]
            """));
        var proxy = ResolvedProxy.Resolve(snapshot, Node(null));
        var cluster = ClusterGenerator.Outbound(snapshot, proxy).Single(c => c.Name == "outbound|9080||reviews.default.svc.cluster.local");

        Assert.NotNull(cluster.CommonLbConfig.LocalityWeightedLbConfig);
        Assert.Equal(0, cluster.CommonLbConfig.HealthyPanicThreshold.Value);
    }

    [Fact]
    public void ProxyKey_DiffersByLocality()
    {
        var snapshot = TestMesh.Build(Endpoints + Rule("outlierDetection: {consecutive5xxErrors: 3}"));
        var east = ResolvedProxy.Resolve(snapshot, Node(null));
        var node = TestMesh.NodeMessage("frontend-0");
        node.Locality = new Locality { Region = "eu-west", Zone = "eu-west-1a" };
        var west = ResolvedProxy.Resolve(snapshot, ProxyNode.FromNode(node));

        Assert.NotEqual(EndpointGenerator.ProxyKey(snapshot, east), EndpointGenerator.ProxyKey(snapshot, west));
        Assert.Equal("eu-west/eu-west-1a", west.Locality);
    }

    private static string Rule(string trafficPolicy) => "\n" + """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:
          host: reviews
          trafficPolicy:

        """ + string.Join("\n", trafficPolicy.Split('\n').Select(l => "    " + l)) + "\n";

    private static ProxyNode Node(IReadOnlyDictionary<string, string>? labels)
    {
        if (labels is not null)
        {
            return TestMesh.Client("frontend", labels) with { Locality = "us-east/us-east-1a/rack1" };
        }

        var node = TestMesh.NodeMessage("frontend-0");
        node.Locality = new Locality { Region = "us-east", Zone = "us-east-1a", SubZone = "rack1" };
        return ProxyNode.FromNode(node);
    }

    private static List<ClusterLoadAssignment> Generate(string yaml, IReadOnlyDictionary<string, string>? labels = null)
    {
        var snapshot = TestMesh.Build(yaml);
        return EndpointGenerator.Generate(snapshot, ResolvedProxy.Resolve(snapshot, Node(labels)));
    }

    private static Dictionary<string, uint> Priorities(List<ClusterLoadAssignment> eds)
    {
        var cla = eds.Single(c => c.ClusterName == "outbound|9080||reviews.default.svc.cluster.local");
        return cla.Endpoints.SelectMany(g => g.LbEndpoints.Select(e => (e.Endpoint.Address.SocketAddress.Address, g.Priority)))
            .ToDictionary(x => x.Address, x => x.Priority);
    }
}
