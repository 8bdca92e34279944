using Google.Protobuf.WellKnownTypes;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Route.V3;
using Skein.Xds.Envoy.Extensions.Filters.Common.Fault.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.Fault.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.Router.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;
using Skein.Xds.Envoy.Extensions.Upstreams.Http.V3;
using Skein.Xds.Envoy.Type.Matcher.V3;
using Skein.Xds.Envoy.Type.V3;
using CoreHttpProtocolOptions = Skein.Xds.Envoy.Config.Core.V3.HttpProtocolOptions;
using UpstreamHttpProtocolOptions = Skein.Xds.Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptions;

namespace Skein.Xds.Tests;

/// <summary>Realistic resources as Skein's control plane would send them to a proxyless gRPC client.</summary>
internal static class XdsSamples
{
    public const string Host = "reviews.default.svc.cluster.local";
    public const int Port = 9080;

    public static Listener ApiListener()
    {
        var hcm = new HttpConnectionManager
        {
            StatPrefix = "outbound_reviews",
            Rds = new Rds
            {
                ConfigSource = new ConfigSource { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 },
                RouteConfigName = ResourceNames.RouteConfig(Port),
            },
            HttpFilters =
            {
                new HttpFilter { Name = "envoy.filters.http.fault", TypedConfig = XdsAny.Pack(new HTTPFault()) },
                new HttpFilter { Name = "envoy.filters.http.router", TypedConfig = XdsAny.Pack(new Router(), TypeUrls.Router) },
            },
            CommonHttpProtocolOptions = new CoreHttpProtocolOptions { IdleTimeout = Duration.FromTimeSpan(TimeSpan.FromMinutes(5)) },
        };

        return new Listener
        {
            Name = ResourceNames.ProxylessListener(Host, Port),
            ApiListener = new ApiListener { ApiListener_ = XdsAny.Pack(hcm, TypeUrls.HttpConnectionManager) },
        };
    }

    public static RouteConfiguration Routes()
    {
        var fault = new HTTPFault
        {
            Delay = new FaultDelay
            {
                FixedDelay = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(250)),
                Percentage = new FractionalPercent { Numerator = 10, Denominator = FractionalPercent.Types.DenominatorType.Hundred },
            },
            Abort = new FaultAbort
            {
                GrpcStatus = 14,
                Percentage = new FractionalPercent { Numerator = 5, Denominator = FractionalPercent.Types.DenominatorType.Hundred },
            },
        };

        var route = new Route
        {
            Name = "v2-canary",
            Match = new RouteMatch
            {
                Prefix = "/",
                Headers =
                {
                    new HeaderMatcher { Name = "x-canary", StringMatch = new StringMatcher { Exact = "true" } },
                },
            },
            Route_ = new RouteAction
            {
                WeightedClusters = new WeightedCluster
                {
                    Clusters =
                    {
                        new WeightedCluster.Types.ClusterWeight { Name = ResourceNames.OutboundCluster(Port, "v1", Host), Weight = 90 },
                        new WeightedCluster.Types.ClusterWeight { Name = ResourceNames.OutboundCluster(Port, "v2", Host), Weight = 10 },
                    },
                    TotalWeight = 100,
                },
                MaxStreamDuration = new RouteAction.Types.MaxStreamDuration
                {
                    MaxStreamDuration_ = Duration.FromTimeSpan(TimeSpan.FromSeconds(3)),
                },
                RetryPolicy = new RetryPolicy
                {
                    RetryOn = "unavailable,deadline-exceeded",
                    NumRetries = 2,
                    RetryBackOff = new RetryPolicy.Types.RetryBackOff
                    {
                        BaseInterval = new Duration { Nanos = 25_000_000 },
                        MaxInterval = new Duration { Nanos = 250_000_000 },
                    },
                },
                HashPolicy =
                {
                    new RouteAction.Types.HashPolicy
                    {
                        Header = new RouteAction.Types.HashPolicy.Types.Header { HeaderName = "x-user" },
                        Terminal = true,
                    },
                },
            },
            TypedPerFilterConfig = { ["envoy.filters.http.fault"] = XdsAny.Pack(fault, TypeUrls.HttpFault) },
        };

        return new RouteConfiguration
        {
            Name = ResourceNames.RouteConfig(Port),
            VirtualHosts =
            {
                new VirtualHost
                {
                    Name = ResourceNames.ProxylessListener(Host, Port),
                    Domains = { ResourceNames.ProxylessListener(Host, Port) },
                    Routes = { route },
                },
            },
        };
    }

    public static Cluster EdsCluster()
    {
        var protocolOptions = new UpstreamHttpProtocolOptions
        {
            ExplicitHttpConfig = new UpstreamHttpProtocolOptions.Types.ExplicitHttpConfig
            {
                Http2ProtocolOptions = new Http2ProtocolOptions { MaxConcurrentStreams = 100 },
            },
        };

        var tls = new UpstreamTlsContext
        {
            Sni = Host,
            CommonTlsContext = new CommonTlsContext
            {
                TlsParams = new TlsParameters
                {
                    TlsMinimumProtocolVersion = TlsParameters.Types.TlsProtocol.Tlsv13,
                    TlsMaximumProtocolVersion = TlsParameters.Types.TlsProtocol.Tlsv13,
                },
                TlsCertificateSdsSecretConfigs = { new SdsSecretConfig { Name = "default", SdsConfig = new ConfigSource { Ads = new AggregatedConfigSource() } } },
                CombinedValidationContext = new CommonTlsContext.Types.CombinedCertificateValidationContext
                {
                    DefaultValidationContext = new CertificateValidationContext
                    {
                        MatchTypedSubjectAltNames =
                        {
                            new SubjectAltNameMatcher
                            {
                                SanType = SubjectAltNameMatcher.Types.SanType.Uri,
                                Matcher = new StringMatcher { Exact = "spiffe://cluster.local/ns/default/sa/reviews" },
                            },
                        },
                    },
                    ValidationContextSdsSecretConfig = new SdsSecretConfig { Name = "ROOTCA", SdsConfig = new ConfigSource { Ads = new AggregatedConfigSource() } },
                },
                AlpnProtocols = { "h2", "http/1.1" },
            },
        };

        return new Cluster
        {
            Name = ResourceNames.OutboundCluster(Port, "v1", Host),
            Type = Cluster.Types.DiscoveryType.Eds,
            EdsClusterConfig = new Cluster.Types.EdsClusterConfig
            {
                EdsConfig = new ConfigSource { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 },
            },
            ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(1)),
            LbPolicy = Cluster.Types.LbPolicy.RingHash,
            RingHashLbConfig = new Cluster.Types.RingHashLbConfig
            {
                HashFunction = Cluster.Types.RingHashLbConfig.Types.HashFunction.XxHash,
                MinimumRingSize = 1024,
            },
            CircuitBreakers = new CircuitBreakers
            {
                Thresholds = { new CircuitBreakers.Types.Thresholds { MaxRequests = 1000, MaxConnections = 100 } },
            },
            OutlierDetection = new OutlierDetection
            {
                Consecutive5Xx = 5,
                Interval = Duration.FromTimeSpan(TimeSpan.FromSeconds(10)),
                BaseEjectionTime = Duration.FromTimeSpan(TimeSpan.FromSeconds(30)),
                MaxEjectionPercent = 50,
            },
            CommonLbConfig = new Cluster.Types.CommonLbConfig
            {
                LocalityWeightedLbConfig = new Cluster.Types.CommonLbConfig.Types.LocalityWeightedLbConfig(),
            },
            TransportSocket = new TransportSocket { Name = "envoy.transport_sockets.tls", TypedConfig = XdsAny.Pack(tls, TypeUrls.UpstreamTlsContext) },
            TypedExtensionProtocolOptions = { [TypeUrls.HttpProtocolOptionsName] = XdsAny.Pack(protocolOptions, TypeUrls.HttpProtocolOptions) },
        };
    }

    public static ClusterLoadAssignment Endpoints() => new()
    {
        ClusterName = ResourceNames.OutboundCluster(Port, "v1", Host),
        Endpoints =
        {
            new LocalityLbEndpoints
            {
                Locality = new Locality { Region = "local", Zone = "a" },
                LoadBalancingWeight = 1,
                LbEndpoints =
                {
                    LbEndpointFor("10.0.0.5"),
                    LbEndpointFor("10.0.0.6"),
                },
            },
        },
        Policy = new ClusterLoadAssignment.Types.Policy { OverprovisioningFactor = 140 },
    };

    public static Secret RootCa() => new()
    {
        Name = "ROOTCA",
        ValidationContext = new CertificateValidationContext
        {
            TrustedCa = new DataSource { InlineString = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" },
        },
    };

    private static LbEndpoint LbEndpointFor(string ip) => new()
    {
        Endpoint = new Endpoint
        {
            Address = new Address { SocketAddress = new SocketAddress { Address = ip, PortValue = Port } },
        },
        HealthStatus = HealthStatus.Healthy,
        LoadBalancingWeight = 1,
    };
}
