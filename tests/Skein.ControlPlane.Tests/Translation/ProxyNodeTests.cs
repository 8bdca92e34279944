using Google.Protobuf.WellKnownTypes;
using Skein.ControlPlane.Registry;
using Skein.ControlPlane.Translation;
using Skein.Xds.Envoy.Config.Core.V3;

namespace Skein.ControlPlane.Tests.Translation;

public sealed class ProxyNodeTests
{
    [Fact]
    public void FromNode_IstioNodeIdOnly_NamespaceAndAddressFromId()
    {
        var node = ProxyNode.FromNode(new Node { Id = "sidecar~10.0.0.7~reviews-v1-abc.prod~prod.svc.cluster.local" });

        Assert.Equal("prod", node.Namespace);
        Assert.Equal(["10.0.0.7"], node.IpAddresses.AsEnumerable());
        Assert.Equal(ProxyMode.Sidecar, node.Mode);
        Assert.Null(node.Labels);
        Assert.Null(node.AppPorts);
    }

    [Fact]
    public void FromNode_AllMetadata_Read()
    {
        var metadata = new Struct();
        metadata.Fields[ProxyNode.NamespaceKey] = Value.ForString("shop");
        metadata.Fields[ProxyNode.WorkloadNameKey] = Value.ForString("cart");
        metadata.Fields[ProxyNode.InstanceIdKey] = Value.ForString("cart-shop-0");
        metadata.Fields[ProxyNode.ServiceAccountKey] = Value.ForString("cart-sa");
        metadata.Fields[ProxyNode.InstanceIpsKey] = Value.ForString("198.18.0.5, 198.18.0.6");
        metadata.Fields[ProxyNode.ModeKey] = Value.ForString("explicit");
        metadata.Fields[ProxyNode.LabelsKey] = Value.ForStruct(new Struct { Fields = { ["app"] = Value.ForString("cart"), ["version"] = Value.ForString("v2") } });
        metadata.Fields[ProxyNode.AppPortsKey] = Value.ForList(Value.ForNumber(9090), Value.ForStruct(new Struct
        {
            Fields = { ["port"] = Value.ForNumber(8080), ["name"] = Value.ForString("grpc"), ["protocol"] = Value.ForString("GRPC") },
        }));

        var node = ProxyNode.FromNode(new Node { Id = "cart-shop-0", Metadata = metadata });

        Assert.Equal(("shop", "cart", "cart-shop-0", "cart-sa"), (node.Namespace, node.WorkloadName, node.InstanceId, node.ServiceAccount));
        Assert.Equal(["198.18.0.5", "198.18.0.6"], node.IpAddresses.AsEnumerable());
        Assert.Equal(ProxyMode.Loopback, node.Mode);
        Assert.Equal("v2", node.Labels!["version"]);
        Assert.Equal([new AppPort(8080, "grpc", PortProtocol.Grpc), new AppPort(9090, null, PortProtocol.Unknown)], node.AppPorts!.Value.AsEnumerable());
    }

    [Theory]
    [InlineData("gRPC Node Pure-JS", null, "Proxyless")]
    [InlineData("envoy", null, "Sidecar")]
    [InlineData("", "grpc", "Proxyless")]
    public void FromNode_UserAgentOrGenerator_DetectsProxylessClients(string userAgent, string? generator, string mode)
    {
        var node = new Node { Id = "x", UserAgentName = userAgent, Metadata = new Struct() };
        if (generator is not null)
        {
            node.Metadata.Fields[ProxyNode.GeneratorKey] = Value.ForString(generator);
        }

        Assert.Equal(mode, ProxyNode.FromNode(node).Mode.ToString());
    }

    [Fact]
    public void FromNode_AppPortsAsString_Parsed()
    {
        var node = new Node { Id = "x", Metadata = new Struct { Fields = { [ProxyNode.AppPortsKey] = Value.ForString("9080, 8080,bad") } } };

        Assert.Equal([8080, 9080], ProxyNode.FromNode(node).AppPorts!.Value.Select(p => p.Port));
    }

    [Fact]
    public void Resolve_RegisteredInstance_LabelsPortsAndProtocolFromRegistryAndService()
    {
        var snapshot = TestMesh.Build(SimulationTests.Input("bookstore"));

        var ratings = ResolvedProxy.Resolve(snapshot, TestMesh.Node("ratings-0"));

        Assert.Equal("ratings", ratings.WorkloadName);
        Assert.Equal("ratings", ratings.ServiceAccount);
        Assert.Equal("v1", ratings.Labels["version"]);
        Assert.Equal([new AppPort(9080, "grpc", PortProtocol.Grpc)], ratings.AppPorts.AsEnumerable());
        Assert.Equal("ratings-0", ratings.Instance!.Id);
    }

    [Fact]
    public void Resolve_UnknownNodeByAddress_FindsTheRegisteredInstance()
    {
        var snapshot = TestMesh.Build(SimulationTests.Input("bookstore"));

        var proxy = ResolvedProxy.Resolve(snapshot, ProxyNode.FromNode(new Node { Id = "sidecar~198.18.0.11~frontend-0.default~default.svc.cluster.local" }));

        Assert.Equal("frontend-0", proxy.Instance?.Id);
        Assert.Equal("frontend", proxy.Labels["app"]);
    }
}
