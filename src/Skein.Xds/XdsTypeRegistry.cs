using Google.Protobuf;
using Google.Protobuf.Reflection;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Rbac.V3;
using Skein.Xds.Envoy.Config.Route.V3;
using Skein.Xds.Envoy.Extensions.Filters.Common.Fault.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.Fault.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.LocalRatelimit.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.Router.V3;
using Skein.Xds.Envoy.Extensions.Filters.Listener.HttpInspector.V3;
using Skein.Xds.Envoy.Extensions.Filters.Listener.OriginalDst.V3;
using Skein.Xds.Envoy.Extensions.Filters.Listener.TlsInspector.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.TcpProxy.V3;
using Skein.Xds.Envoy.Extensions.Retry.Host.PreviousHosts.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;
using Skein.Xds.Envoy.Extensions.Upstreams.Http.V3;
using Skein.Xds.Envoy.Service.Discovery.V3;
using Skein.Xds.Envoy.Type.Matcher.V3;
using Skein.Xds.Envoy.Type.V3;
using Skein.Xds.GoogleRpc;
using HttpRbacReflection = Skein.Xds.Envoy.Extensions.Filters.Http.Rbac.V3.RbacReflection;
using NetworkRbacReflection = Skein.Xds.Envoy.Extensions.Filters.Network.Rbac.V3.RbacReflection;

namespace Skein.Xds;

/// <summary>
/// Every message of Skein's xDS subset, for resolving <c>Any</c> by type URL, and JSON
/// converters built on it (xDS JSON, e.g. bootstrap <c>static_resources</c>, with <c>"@type"</c>).
/// </summary>
public static class XdsTypeRegistry
{
    private static readonly FileDescriptor[] Files =
    [
        StatusReflection.Descriptor,
        PercentReflection.Descriptor,
        RangeReflection.Descriptor,
        TokenBucketReflection.Descriptor,
        HttpStatusReflection.Descriptor,
        RegexReflection.Descriptor,
        StringReflection.Descriptor,
        PathReflection.Descriptor,
        AddressReflection.Descriptor,
        BaseReflection.Descriptor,
        HealthCheckReflection.Descriptor,
        ConfigSourceReflection.Descriptor,
        ProtocolReflection.Descriptor,
        ListenerComponentsReflection.Descriptor,
        ApiListenerReflection.Descriptor,
        ListenerReflection.Descriptor,
        RouteComponentsReflection.Descriptor,
        RouteReflection.Descriptor,
        EndpointComponentsReflection.Descriptor,
        EndpointReflection.Descriptor,
        CircuitBreakerReflection.Descriptor,
        OutlierDetectionReflection.Descriptor,
        ClusterReflection.Descriptor,
        Envoy.Config.Rbac.V3.RbacReflection.Descriptor,
        DiscoveryReflection.Descriptor,
        AdsReflection.Descriptor,
        HttpConnectionManagerReflection.Descriptor,
        NetworkRbacReflection.Descriptor,
        TcpProxyReflection.Descriptor,
        RouterReflection.Descriptor,
        Envoy.Extensions.Filters.Common.Fault.V3.FaultReflection.Descriptor,
        Envoy.Extensions.Filters.Http.Fault.V3.FaultReflection.Descriptor,
        HttpRbacReflection.Descriptor,
        LocalRateLimitReflection.Descriptor,
        OriginalDstReflection.Descriptor,
        TlsInspectorReflection.Descriptor,
        HttpInspectorReflection.Descriptor,
        HttpProtocolOptionsReflection.Descriptor,
        PreviousHostsReflection.Descriptor,
        CommonReflection.Descriptor,
        SecretReflection.Descriptor,
        TlsReflection.Descriptor,
        Istio.Ca.CaReflection.Descriptor,
    ];

    /// <summary>A registry holding every message (including nested ones) of Skein's xDS protos.</summary>
    public static TypeRegistry Instance { get; } = TypeRegistry.FromFiles(Files);

    /// <summary>
    /// A strict xDS JSON parser (unknown fields are errors) that resolves <c>Any</c> through <see cref="Instance"/>.
    /// Accepts both proto field names (<c>route_config_name</c>) and JSON names (<c>routeConfigName</c>).
    /// </summary>
    public static JsonParser JsonParser { get; } =
        new(JsonParser.Settings.Default.WithTypeRegistry(Instance));

    /// <summary>An xDS JSON formatter that writes <c>Any</c> with <c>"@type"</c> through <see cref="Instance"/>.</summary>
    public static JsonFormatter JsonFormatter { get; } =
        new(JsonFormatter.Settings.Default.WithTypeRegistry(Instance));

    /// <summary>The proto files that make up Skein's xDS subset.</summary>
    public static IReadOnlyList<FileDescriptor> FileDescriptors => Files;
}
