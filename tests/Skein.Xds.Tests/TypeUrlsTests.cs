using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Route.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;

namespace Skein.Xds.Tests;

public sealed class TypeUrlsTests
{
    [Fact]
    public void AdsResourceTypes_Constants_MatchGeneratedDescriptors()
    {
        Assert.Equal(
            [
                TypeUrls.Prefix + Listener.Descriptor.FullName,
                TypeUrls.Prefix + RouteConfiguration.Descriptor.FullName,
                TypeUrls.Prefix + Cluster.Descriptor.FullName,
                TypeUrls.Prefix + ClusterLoadAssignment.Descriptor.FullName,
                TypeUrls.Prefix + Secret.Descriptor.FullName,
            ],
            TypeUrls.AdsResourceTypes);
        Assert.Equal("type.googleapis.com/envoy.config.listener.v3.Listener", TypeUrls.Listener);
        Assert.Equal("type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment", TypeUrls.ClusterLoadAssignment);
    }

    [Theory]
    [InlineData("type.googleapis.com/envoy.config.cluster.v3.Cluster", "envoy.config.cluster.v3.Cluster")]
    [InlineData("envoy.config.cluster.v3.Cluster", "envoy.config.cluster.v3.Cluster")]
    public void MessageName_TypeUrl_ReturnsFullName(string typeUrl, string expected)
    {
        Assert.Equal(expected, TypeUrls.MessageName(typeUrl));
    }
}
