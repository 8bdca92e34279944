using System.Text.Json;
using Skein.ControlPlane.Registry;
using Skein.ControlPlane.Tests.Translation;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;

namespace Skein.ControlPlane.Tests.Registry;

public sealed class ServiceRegistryTests
{
    private const string Extra = """
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: legacy, namespace: vms}
        spec:
          selector: {app: legacy}
          clusterIP: 198.19.200.1
          ports: [{name: http, port: 80, targetPort: web}]
        ---
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {name: legacy-vm, namespace: vms}
        spec:
          address: 10.1.2.3
          labels: {app: legacy}
          ports: {http: 8080}
          locality: eu/west-1/a
          weight: 3
        ---
        apiVersion: skein.dev/v1alpha1
        kind: Workload
        metadata: {name: legacy, namespace: vms}
        spec: {command: [legacy], labels: {app: legacy}, ports: [{name: web, port: 8081}]}
        ---
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: payments}
        spec:
          hosts: [payments.internal]
          location: MESH_INTERNAL
          resolution: STATIC
          ports: [{number: 443, name: https, protocol: HTTPS, targetPort: 8443}]
          endpoints:
            - {address: 10.9.0.1}
            - {address: 10.9.0.2, ports: {https: 9443}}
        ---
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: search}
        spec:
          hosts: [search.example.com]
          resolution: DNS
          ports: [{number: 80, name: http, protocol: HTTP}]
        """;

    [Fact]
    public void Build_ServiceSelector_EndpointsAreMatchingInstancesWithTargetPort()
    {
        var snapshot = TestMesh.Build(SimulationTests.Input("bookstore"));

        var reviews = snapshot.ServicesByHost["reviews.default.svc.cluster.local"];

        Assert.Equal(["reviews-v1-0", "reviews-v2-0", "reviews-v3-0"], reviews.Endpoints.Select(e => e.Instance.Id));
        Assert.All(reviews.Endpoints, e => Assert.Equal(9080, e.Ports[9080]));
        Assert.Equal(PortProtocol.Grpc, snapshot.ServicesByHost["ratings.default.svc.cluster.local"].Ports[0].Protocol);
    }

    [Fact]
    public void Build_NamedTargetPortAndWorkloadEntry_PortsResolvedPerEndpoint()
    {
        var snapshot = TestMesh.Build(SimulationTests.Input("bookstore") + Extra);

        var legacy = snapshot.ServicesByHost["legacy.vms.svc.cluster.local"];

        Assert.Equal("198.19.200.1", legacy.Vip);
        Assert.Equal([("10.1.2.3", 8080), ("198.18.0.16", 8081)], legacy.Endpoints.Select(e => (e.Address, e.Ports[80])));
        Assert.False(legacy.Endpoints[0].Instance.HasSidecar);
        Assert.True(legacy.Endpoints[1].Instance.HasSidecar);
    }

    [Fact]
    public void Build_StaticServiceEntry_EndpointPortsFromEntryOrTargetPort()
    {
        var snapshot = TestMesh.Build(SimulationTests.Input("bookstore") + Extra);

        var payments = snapshot.ServicesByHost["payments.internal"];

        Assert.Equal([("10.9.0.1", 8443), ("10.9.0.2", 9443)], payments.Endpoints.Select(e => (e.Address, e.Ports[443])));
        Assert.StartsWith("198.19.", payments.Vip); // mesh-internal: gets a VIP
        Assert.Null(snapshot.ServicesByHost["search.example.com"].Vip);
    }

    [Fact]
    public void Generate_DnsServiceEntry_StrictDnsClusterWithInlineEndpoints()
    {
        var snapshot = TestMesh.Build(SimulationTests.Input("bookstore") + Extra);

        var clusters = TestMesh.Generate(snapshot, TestMesh.Node("frontend-0")).Clusters;
        var search = (Cluster)clusters.ByName["outbound|80||search.example.com"].Message;

        Assert.Equal(Cluster.Types.DiscoveryType.StrictDns, search.Type);
        Assert.Equal("search.example.com", search.LoadAssignment.Endpoints[0].LbEndpoints[0].Endpoint.Address.SocketAddress.Address);
    }

    [Fact]
    public void Generate_WorkloadEntryLocalityAndWeight_InLoadAssignment()
    {
        var snapshot = TestMesh.Build(SimulationTests.Input("bookstore") + Extra);

        var cla = (ClusterLoadAssignment)TestMesh.Generate(snapshot, TestMesh.Node("frontend-0")).Endpoints.ByName["outbound|80||legacy.vms.svc.cluster.local"].Message;

        var eu = cla.Endpoints.Single(l => l.Locality.Region == "eu");
        Assert.Equal("west-1", eu.Locality.Zone);
        Assert.Equal(3u, eu.LoadBalancingWeight);
        Assert.Equal(2, cla.Endpoints.Count);
    }

    [Fact]
    public void Generate_UnhealthyInstance_LeftOutOfEndpoints()
    {
        var snapshot = TestMesh.Build(SimulationTests.Input("bookstore"), adjust: r => r.Id == "reviews-v2-0" ? r with { Healthy = false } : r);

        var cla = (ClusterLoadAssignment)TestMesh.Generate(snapshot, TestMesh.Node("frontend-0")).Endpoints.ByName["outbound|9080||reviews.default.svc.cluster.local"].Message;

        Assert.Equal(["198.18.0.13", "198.18.0.15"], cla.Endpoints.Single().LbEndpoints.Select(e => e.Endpoint.Address.SocketAddress.Address));
    }

    [Fact]
    public void Generate_LoopbackProxy_EndpointsAreSidecarInboundAddresses()
    {
        var snapshot = TestMesh.Build(SimulationTests.Input("bookstore"), adjust: r => r with { SidecarInboundAddress = $"127.0.0.1:{15100 + int.Parse(r.Address.Split('.')[3], System.Globalization.CultureInfo.InvariantCulture)}" });

        var cla = (ClusterLoadAssignment)TestMesh.Generate(snapshot, TestMesh.Node("frontend-0", mode: "loopback")).Endpoints.ByName["outbound|9080|v1|reviews.default.svc.cluster.local"].Message;

        var address = cla.Endpoints.Single().LbEndpoints.Single().Endpoint.Address.SocketAddress;
        Assert.Equal(("127.0.0.1", 15113u), (address.Address, address.PortValue));
    }

    [Fact]
    public void Assign_SameServicesAnyOrder_SameAddresses()
    {
        var hosts = new[] { "a.default.svc.cluster.local", "b.default.svc.cluster.local", "c.prod.svc.cluster.local" };

        var first = new VipAllocator(DataDirectory.None).Assign(hosts.Select(h => KeyValuePair.Create(h, (string?)null)));
        var second = new VipAllocator(DataDirectory.None).Assign(hosts.Reverse().Select(h => KeyValuePair.Create(h, (string?)null)));

        Assert.Equal(first, second);
        Assert.All(first.Values, ip => Assert.StartsWith("198.19.", ip));
        Assert.Equal(3, first.Values.Distinct().Count());
    }

    [Fact]
    public void Assign_ServiceAdded_ExistingAddressesKept()
    {
        var allocator = new VipAllocator(DataDirectory.None);
        var before = allocator.Assign([KeyValuePair.Create("a.default.svc.cluster.local", (string?)null)]);

        var after = allocator.Assign(
        [
            KeyValuePair.Create("a.default.svc.cluster.local", (string?)null),
            KeyValuePair.Create("b.default.svc.cluster.local", (string?)null),
        ]);

        Assert.Equal(before["a.default.svc.cluster.local"], after["a.default.svc.cluster.local"]);
    }

    [Fact]
    public void Assign_WithDataDirectory_SameAddressesAfterRestart()
    {
        var dir = Path.Combine(Path.GetTempPath(), "skein-vip-tests", Guid.NewGuid().ToString("n"));
        try
        {
            var hosts = Enumerable.Range(0, 50).Select(i => KeyValuePair.Create($"s{i}.default.svc.cluster.local", (string?)null)).ToList();
            var first = new VipAllocator(new DataDirectory(dir)).Assign(hosts);

            var second = new VipAllocator(new DataDirectory(dir)).Assign(hosts.Skip(10));

            Assert.All(second, kv => Assert.Equal(first[kv.Key], kv.Value));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("""{"id": "a-0", "workload": "a", "address": "198.18.0.2", "ports": [9080, {"name": "grpc", "port": 9090, "protocol": "GRPC"}], "healthy": false}""", null)]
    [InlineData("""{"instanceId": "a-0", "workload": "a", "address": "198.18.0.2", "sidecarInboundAddress": "127.0.0.1:15106"}""", null)]
    [InlineData("""{"id": "a-0", "workload": "a", "address": "not-an-ip"}""", "address must be an IP address")]
    [InlineData("""{"workload": "a", "address": "198.18.0.2"}""", "id is required")]
    [InlineData("""{"id": "a-0", "workload": "a", "address": "198.18.0.2", "ports": ["x"]}""", "ports must be port numbers or {name, port, protocol} objects")]
    public void Parse_Registration_AcceptsOrExplains(string json, string? error)
    {
        using var doc = JsonDocument.Parse(json);

        var (registration, message) = RegistrationJson.Parse(doc.RootElement);

        Assert.Equal(error, message);
        Assert.Equal(error is null, registration is not null);
        if (registration is not null)
        {
            using var again = JsonDocument.Parse(RegistrationJson.Write(registration));
            Assert.Equal(RegistrationJson.Write(registration), RegistrationJson.Write(RegistrationJson.Parse(again.RootElement).Registration!));
        }
    }
}
