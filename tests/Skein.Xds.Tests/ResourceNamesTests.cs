namespace Skein.Xds.Tests;

public sealed class ResourceNamesTests
{
    [Fact]
    public void OutboundCluster_WithSubset_FormatsIstioName()
    {
        Assert.Equal("outbound|9080|v1|reviews.default.svc.cluster.local",
            ResourceNames.OutboundCluster(9080, "v1", "reviews.default.svc.cluster.local"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void OutboundCluster_WithoutSubset_LeavesSubsetEmpty(string? subset)
    {
        Assert.Equal("outbound|9080||reviews.default.svc.cluster.local",
            ResourceNames.OutboundCluster(9080, subset, "reviews.default.svc.cluster.local"));
    }

    [Fact]
    public void InboundCluster_Port_FormatsIstioName()
    {
        Assert.Equal("inbound|9080||", ResourceNames.InboundCluster(9080));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(65536)]
    public void OutboundCluster_PortOutOfRange_Throws(int port)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ResourceNames.OutboundCluster(port, null, "a.b"));
    }

    [Fact]
    public void OutboundCluster_SegmentWithSeparator_Throws()
    {
        Assert.Throws<ArgumentException>(() => ResourceNames.OutboundCluster(80, "v|1", "a.b"));
        Assert.Throws<ArgumentException>(() => ResourceNames.OutboundCluster(80, "v1", "a|b"));
        Assert.Throws<ArgumentException>(() => ResourceNames.OutboundCluster(80, "v1", ""));
    }

    [Fact]
    public void ParseCluster_OutboundName_ReturnsParts()
    {
        var parsed = ResourceNames.ParseCluster("outbound|9080|v1|reviews.default.svc.cluster.local");

        Assert.Equal(new ClusterName(ClusterDirection.Outbound, 9080, "v1", "reviews.default.svc.cluster.local"), parsed);
    }

    [Fact]
    public void ParseCluster_InboundName_ReturnsEmptySubsetAndHost()
    {
        var parsed = ResourceNames.ParseCluster("inbound|9080||");

        Assert.Equal(new ClusterName(ClusterDirection.Inbound, 9080, "", ""), parsed);
    }

    [Theory]
    [InlineData("outbound|9080|v1|reviews.default.svc.cluster.local")]
    [InlineData("outbound|443||api.example.com")]
    [InlineData("inbound|9080||")]
    public void ToString_ParsedName_RoundTrips(string name)
    {
        Assert.Equal(name, ResourceNames.ParseCluster(name)!.ToString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("reviews")]
    [InlineData("outbound|9080|v1")]
    [InlineData("outbound|9080|v1|a|b")]
    [InlineData("sideways|9080||a.b")]
    [InlineData("Outbound|9080||a.b")]
    [InlineData("outbound|http|v1|a.b")]
    [InlineData("outbound|0|v1|a.b")]
    [InlineData("outbound|65536|v1|a.b")]
    [InlineData("outbound|+80|v1|a.b")]
    [InlineData("outbound|9080|v1|")]
    [InlineData("0.0.0.0_9080")]
    public void ParseCluster_NotAClusterName_ReturnsNull(string? name)
    {
        Assert.Null(ResourceNames.ParseCluster(name));
    }

    [Fact]
    public void Listener_Port_UsesWildcardAddress()
    {
        Assert.Equal("0.0.0.0_9080", ResourceNames.Listener(9080));
        Assert.Equal("10.0.0.5_9080", ResourceNames.Listener("10.0.0.5", 9080));
    }

    [Fact]
    public void VirtualListeners_Names_MatchIstio()
    {
        Assert.Equal("virtualOutbound", ResourceNames.VirtualOutbound);
        Assert.Equal("virtualInbound", ResourceNames.VirtualInbound);
    }

    [Fact]
    public void RouteConfig_Port_IsPortNumber()
    {
        Assert.Equal("9080", ResourceNames.RouteConfig(9080));
        Assert.Equal("inbound|9080||", ResourceNames.InboundRouteConfig(9080));
    }

    [Fact]
    public void ProxylessListener_HostAndPort_IsExactTarget()
    {
        Assert.Equal("echo.ns.svc.cluster.local:50051", ResourceNames.ProxylessListener("echo.ns.svc.cluster.local", 50051));
        Assert.Equal("[::1]:50051", ResourceNames.ProxylessListener("::1", 50051));
        Assert.Equal("[::1]:50051", ResourceNames.ProxylessListener("[::1]", 50051));
    }

    [Theory]
    [InlineData("echo.ns.svc.cluster.local:50051", "echo.ns.svc.cluster.local", 50051)]
    [InlineData("10.0.0.5:80", "10.0.0.5", 80)]
    [InlineData("[::1]:50051", "::1", 50051)]
    public void ParseProxylessListener_ValidTarget_ReturnsHostAndPort(string name, string host, int port)
    {
        Assert.Equal(new ProxylessTarget(host, port), ResourceNames.ParseProxylessListener(name));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("echo")]
    [InlineData(":50051")]
    [InlineData("echo:")]
    [InlineData("echo:0")]
    [InlineData("echo:http")]
    [InlineData("::1:50051")]
    [InlineData("[]:50051")]
    public void ParseProxylessListener_InvalidTarget_ReturnsNull(string? name)
    {
        Assert.Null(ResourceNames.ParseProxylessListener(name));
    }
}
