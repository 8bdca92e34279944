namespace Skein.Xds;

/// <summary>
/// Type URLs of the xDS resources (ADS) and of the typed configs (filters, transport sockets,
/// protocol options) that Skein puts in <see cref="Google.Protobuf.WellKnownTypes.Any"/> fields.
/// </summary>
public static class TypeUrls
{
    /// <summary>The prefix every xDS type URL carries.</summary>
    public const string Prefix = "type.googleapis.com/";

    // ADS resource types.

    /// <summary>LDS: <c>envoy.config.listener.v3.Listener</c>.</summary>
    public const string Listener = Prefix + "envoy.config.listener.v3.Listener";

    /// <summary>RDS: <c>envoy.config.route.v3.RouteConfiguration</c>.</summary>
    public const string RouteConfiguration = Prefix + "envoy.config.route.v3.RouteConfiguration";

    /// <summary>CDS: <c>envoy.config.cluster.v3.Cluster</c>.</summary>
    public const string Cluster = Prefix + "envoy.config.cluster.v3.Cluster";

    /// <summary>EDS: <c>envoy.config.endpoint.v3.ClusterLoadAssignment</c>.</summary>
    public const string ClusterLoadAssignment = Prefix + "envoy.config.endpoint.v3.ClusterLoadAssignment";

    /// <summary>SDS: <c>envoy.extensions.transport_sockets.tls.v3.Secret</c>.</summary>
    public const string Secret = Prefix + "envoy.extensions.transport_sockets.tls.v3.Secret";

    // Network filters.

    /// <summary>The HTTP connection manager network filter (also the payload of an API listener).</summary>
    public const string HttpConnectionManager =
        Prefix + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

    /// <summary>The network (L4) RBAC filter.</summary>
    public const string NetworkRbac = Prefix + "envoy.extensions.filters.network.rbac.v3.RBAC";

    /// <summary>The TCP proxy network filter.</summary>
    public const string TcpProxy = Prefix + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

    // HTTP filters.

    /// <summary>The router HTTP filter (must be last in the HTTP filter chain).</summary>
    public const string Router = Prefix + "envoy.extensions.filters.http.router.v3.Router";

    /// <summary>The fault injection HTTP filter; also used bare in <c>typed_per_filter_config</c>.</summary>
    public const string HttpFault = Prefix + "envoy.extensions.filters.http.fault.v3.HTTPFault";

    /// <summary>The HTTP RBAC filter.</summary>
    public const string HttpRbac = Prefix + "envoy.extensions.filters.http.rbac.v3.RBAC";

    /// <summary>The per-route override of the HTTP RBAC filter.</summary>
    public const string HttpRbacPerRoute = Prefix + "envoy.extensions.filters.http.rbac.v3.RBACPerRoute";

    /// <summary>The local rate limit HTTP filter.</summary>
    public const string LocalRateLimit = Prefix + "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";

    // Listener filters.

    /// <summary>The original destination listener filter.</summary>
    public const string OriginalDst = Prefix + "envoy.extensions.filters.listener.original_dst.v3.OriginalDst";

    /// <summary>The TLS inspector listener filter.</summary>
    public const string TlsInspector = Prefix + "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";

    /// <summary>The HTTP inspector listener filter.</summary>
    public const string HttpInspector = Prefix + "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector";

    // Retry extensions.

    /// <summary>The retry host predicate that makes retries prefer hosts not tried yet
    /// (<c>envoy.retry_host_predicates.previous_hosts</c>).</summary>
    public const string PreviousHostsPredicate = Prefix + "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate";

    // Upstream options and transport sockets.

    /// <summary>Cluster HTTP protocol options, keyed in <c>typed_extension_protocol_options</c> by
    /// <see cref="HttpProtocolOptionsName"/>.</summary>
    public const string HttpProtocolOptions = Prefix + "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

    /// <summary>The key under which <see cref="HttpProtocolOptions"/> goes in
    /// <c>Cluster.typed_extension_protocol_options</c>.</summary>
    public const string HttpProtocolOptionsName = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

    /// <summary>TLS transport socket config for a cluster.</summary>
    public const string UpstreamTlsContext = Prefix + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";

    /// <summary>TLS transport socket config for a listener filter chain.</summary>
    public const string DownstreamTlsContext = Prefix + "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";

    /// <summary>The five resource types served over ADS, in the order clients subscribe to the first four.</summary>
    public static IReadOnlyList<string> AdsResourceTypes { get; } =
        [Listener, RouteConfiguration, Cluster, ClusterLoadAssignment, Secret];

    /// <summary>Returns the fully qualified proto message name of a type URL (the part after the last '/').</summary>
    public static string MessageName(string typeUrl)
    {
        ArgumentNullException.ThrowIfNull(typeUrl);
        var slash = typeUrl.LastIndexOf('/');
        return slash < 0 ? typeUrl : typeUrl[(slash + 1)..];
    }
}
