using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Route.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.Fault.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;
using Skein.Xds.Envoy.Service.Discovery.V3;
using UpstreamHttpProtocolOptions = Skein.Xds.Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptions;

namespace Skein.Xds.Tests;

public sealed class RoundTripTests
{
    private static DiscoveryResponse Response(string typeUrl, IMessage resource) => new()
    {
        VersionInfo = "7",
        Nonce = "nonce-7",
        TypeUrl = typeUrl,
        Resources = { XdsAny.Pack(resource, typeUrl) },
    };

    private static DiscoveryResponse Reparse(DiscoveryResponse response) =>
        DiscoveryResponse.Parser.ParseFrom(response.ToByteArray());

    [Fact]
    public void ParseFrom_ListenerResponse_RoundTripsApiListenerAndFilters()
    {
        var listener = XdsSamples.ApiListener();

        var parsed = Reparse(Response(TypeUrls.Listener, listener));

        Assert.Equal(TypeUrls.Listener, parsed.TypeUrl);
        Assert.Equal("nonce-7", parsed.Nonce);
        var any = Assert.Single(parsed.Resources);
        Assert.Equal(TypeUrls.Listener, any.TypeUrl);
        var back = any.Unpack<Listener>();
        Assert.Equal(listener, back);
        Assert.Equal("reviews.default.svc.cluster.local:9080", back.Name);

        var hcm = back.ApiListener.ApiListener_.Unpack<HttpConnectionManager>();
        Assert.Equal("9080", hcm.Rds.RouteConfigName);
        Assert.NotNull(hcm.Rds.ConfigSource.Ads);
        Assert.Equal(TypeUrls.Router, hcm.HttpFilters[^1].TypedConfig.TypeUrl);
    }

    [Fact]
    public void ParseFrom_RouteConfigurationResponse_RoundTripsRouteAction()
    {
        var routes = XdsSamples.Routes();

        var back = Assert.Single(Reparse(Response(TypeUrls.RouteConfiguration, routes)).Resources).Unpack<RouteConfiguration>();

        Assert.Equal(routes, back);
        var route = back.VirtualHosts[0].Routes[0];
        Assert.Equal(Route.ActionOneofCase.Route_, route.ActionCase);
        Assert.Equal(TimeSpan.FromSeconds(3), route.Route_.MaxStreamDuration.MaxStreamDuration_.ToTimeSpan());
        Assert.Equal(100u, route.Route_.WeightedClusters.Clusters.Sum(c => c.Weight ?? 0));
        var fault = route.TypedPerFilterConfig["envoy.filters.http.fault"].Unpack<HTTPFault>();
        Assert.Equal(14u, fault.Abort.GrpcStatus);
    }

    [Fact]
    public void ParseFrom_ClusterResponse_RoundTripsEdsRingHashAndTls()
    {
        var cluster = XdsSamples.EdsCluster();

        var back = Assert.Single(Reparse(Response(TypeUrls.Cluster, cluster)).Resources).Unpack<Cluster>();

        Assert.Equal(cluster, back);
        Assert.Equal(Cluster.ClusterDiscoveryTypeOneofCase.Type, back.ClusterDiscoveryTypeCase);
        Assert.Equal(Cluster.Types.DiscoveryType.Eds, back.Type);
        Assert.Equal(Cluster.LbConfigOneofCase.RingHashLbConfig, back.LbConfigCase);
        var tls = back.TransportSocket.TypedConfig.Unpack<UpstreamTlsContext>();
        Assert.Equal("spiffe://cluster.local/ns/default/sa/reviews",
            tls.CommonTlsContext.CombinedValidationContext.DefaultValidationContext.MatchTypedSubjectAltNames[0].Matcher.Exact);
        var options = back.TypedExtensionProtocolOptions[TypeUrls.HttpProtocolOptionsName].Unpack<UpstreamHttpProtocolOptions>();
        Assert.Equal(100u, options.ExplicitHttpConfig.Http2ProtocolOptions.MaxConcurrentStreams);
    }

    [Fact]
    public void ParseFrom_ClusterLoadAssignmentResponse_RoundTripsLocalities()
    {
        var cla = XdsSamples.Endpoints();

        var back = Assert.Single(Reparse(Response(TypeUrls.ClusterLoadAssignment, cla)).Resources).Unpack<ClusterLoadAssignment>();

        Assert.Equal(cla, back);
        var locality = Assert.Single(back.Endpoints);
        Assert.Equal(1u, locality.LoadBalancingWeight);
        Assert.Equal(["10.0.0.5", "10.0.0.6"], locality.LbEndpoints.Select(e => e.Endpoint.Address.SocketAddress.Address));
        Assert.All(locality.LbEndpoints, e => Assert.Equal(9080u, e.Endpoint.Address.SocketAddress.PortValue));
    }

    [Fact]
    public void ParseFrom_SecretResponse_RoundTripsValidationContext()
    {
        var secret = XdsSamples.RootCa();

        var back = Assert.Single(Reparse(Response(TypeUrls.Secret, secret)).Resources).Unpack<Secret>();

        Assert.Equal(secret, back);
        Assert.Equal(Secret.TypeOneofCase.ValidationContext, back.TypeCase);
    }

    [Fact]
    public void ParseFrom_DiscoveryRequestNack_KeepsErrorDetailAndNonce()
    {
        var request = new DiscoveryRequest
        {
            VersionInfo = "6",
            TypeUrl = TypeUrls.Cluster,
            ResponseNonce = "nonce-7",
            ResourceNames = { "outbound|9080|v1|reviews.default.svc.cluster.local" },
            ErrorDetail = new GoogleRpc.Status { Code = 3, Message = "cluster type STATIC not supported" },
            Node = new Envoy.Config.Core.V3.Node
            {
                Id = "sidecar~10.0.0.5~reviews-v1.default~default.svc.cluster.local",
                Locality = new Envoy.Config.Core.V3.Locality(),
                UserAgentName = "grpc-node-js",
                UserAgentVersion = "1.14.0",
                ClientFeatures = { "envoy.lb.does_not_support_overprovisioning" },
                Metadata = new Struct { Fields = { ["NAMESPACE"] = Value.ForString("default") } },
            },
        };

        var back = DiscoveryRequest.Parser.ParseFrom(request.ToByteArray());

        Assert.Equal(request, back);
        Assert.Equal(3, back.ErrorDetail.Code);
        Assert.Equal("1.14.0", back.Node.UserAgentVersion);
    }

    [Fact]
    public void ParseFrom_DiscoveryResponseWithAllFourTypes_UnpacksEach()
    {
        var response = new DiscoveryResponse
        {
            VersionInfo = "1",
            Nonce = "1",
            Resources =
            {
                XdsAny.Pack(XdsSamples.ApiListener()),
                XdsAny.Pack(XdsSamples.Routes()),
                XdsAny.Pack(XdsSamples.EdsCluster()),
                XdsAny.Pack(XdsSamples.Endpoints()),
            },
        };

        var back = Reparse(response);

        Assert.Equal(
            [TypeUrls.Listener, TypeUrls.RouteConfiguration, TypeUrls.Cluster, TypeUrls.ClusterLoadAssignment],
            back.Resources.Select(r => r.TypeUrl));
        Assert.Equal(XdsSamples.ApiListener(), back.Resources[0].Unpack<Listener>());
        Assert.Equal(XdsSamples.Routes(), back.Resources[1].Unpack<RouteConfiguration>());
        Assert.Equal(XdsSamples.EdsCluster(), back.Resources[2].Unpack<Cluster>());
        Assert.Equal(XdsSamples.Endpoints(), back.Resources[3].Unpack<ClusterLoadAssignment>());
    }

    [Fact]
    public void Pack_TypeUrlOfOtherMessage_Throws()
    {
        Assert.Throws<ArgumentException>(() => XdsAny.Pack(XdsSamples.EdsCluster(), TypeUrls.Listener));
    }

    [Fact]
    public void Pack_WithoutTypeUrl_UsesTypeGoogleapisPrefix()
    {
        var any = XdsAny.Pack(new Any());

        Assert.Equal("type.googleapis.com/google.protobuf.Any", any.TypeUrl);
    }
}
