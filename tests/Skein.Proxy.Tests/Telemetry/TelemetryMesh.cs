using System.Globalization;
using System.Net;
using Skein.Proxy.Discovery;
using Skein.Proxy.Tests.Infrastructure;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Route.V3;

namespace Skein.Proxy.Tests.Telemetry;

/// <summary>
/// Two sidecars in a row over loopback, laid out as skein-control configures them in loopback mode: the client's
/// proxy ("productpage-v1", outbound listener 9080 → cluster <c>outbound|9080||reviews.default.svc.cluster.local</c>
/// whose endpoint is the server proxy's inbound port, with Istio endpoint and cluster metadata) and the server's
/// proxy ("reviews-v2", <c>virtualInbound</c> → <c>inbound|9080||</c> → a Kestrel backend). Both export spans to an
/// in-test OTLP/HTTP receiver.
/// </summary>
internal sealed class TelemetryMesh : IAsyncDisposable
{
    public const string ServiceHost = "reviews.default.svc.cluster.local";
    public const string OutboundCluster = "outbound|9080||" + ServiceHost;
    public const string InboundCluster = "inbound|9080||";

    private TelemetryMesh(TestBackend backend, OtlpReceiver receiver, TestProxy source, TestProxy destination)
    {
        Backend = backend;
        Receiver = receiver;
        Source = source;
        Destination = destination;
    }

    public TestBackend Backend { get; }

    public OtlpReceiver Receiver { get; }

    /// <summary>The client workload's sidecar: send requests to its outbound port with Host <c>reviews:9080</c>.</summary>
    public TestProxy Source { get; }

    /// <summary>The server workload's sidecar.</summary>
    public TestProxy Destination { get; }

    public static async Task<TelemetryMesh> StartAsync(bool http2 = false, double? sampling = 100, string[]? extraNodeMetadata = null)
    {
        var backend = await TestBackend.StartAsync("reviews-v2", http2);
        var receiver = await OtlpReceiver.StartAsync();
        var destination = await TestProxy.StartAsync(
            new ProxyOptions { Mode = CaptureMode.Explicit, AppPort = backend.Port, TraceSampling = sampling, TraceCollector = receiver.Url },
            bootstrap: Bootstrap("sidecar~127.0.0.1~reviews-v2-0.default~default.svc.cluster.local", "reviews-v2", "reviews", "v2", "reviews", extraNodeMetadata));
        destination.Apply([InboundListener()], clusters: [InboundClusterFor(backend.Port, http2)]);
        var source = await TestProxy.StartAsync(
            new ProxyOptions { Mode = CaptureMode.Explicit, TraceSampling = sampling, TraceCollector = receiver.Url },
            bootstrap: Bootstrap("sidecar~127.0.0.1~productpage-v1-0.default~default.svc.cluster.local", "productpage-v1", "productpage", "v1", "bookinfo-productpage", extraNodeMetadata));
        // A fault filter that aborts only requests asking for it (x-envoy-fault-abort-request), for local replies.
        source.Apply(
            [XdsConfig.HttpListener(9080, "9080", extraFilters: HeaderAbortFilter)], [Routes()], [OutboundClusterFor(destination.InboundPort, http2)]);
        return new TelemetryMesh(backend, receiver, source, destination);
    }

    private const string HeaderAbortFilter = """
        {"name": "envoy.filters.http.fault", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
          "abort": {"header_abort": {}, "percentage": {"numerator": 100}}}}
        """;

    /// <summary>A client whose requests go through the source proxy to <c>reviews:9080</c>.</summary>
    public HttpClient Client(Version? version = null) => new(new AuthorityHandler("reviews:9080") { InnerHandler = new SocketsHttpHandler { UseProxy = false } })
    {
        BaseAddress = new Uri($"http://127.0.0.1:{Source.OutboundPort}"),
        DefaultRequestVersion = version ?? HttpVersion.Version11,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(30),
    };

    public async ValueTask DisposeAsync()
    {
        await Source.DisposeAsync();
        await Destination.DisposeAsync();
        await Backend.DisposeAsync();
        await Receiver.DisposeAsync();
    }

    public static Bootstrap Bootstrap(string nodeId, string workload, string app, string version, string serviceAccount, string[]? extra = null)
    {
        var more = extra is null ? string.Empty : "," + string.Join(",", extra);
        return BootstrapLoader.Parse($$$"""
            {"node": {"id": "{{{nodeId}}}", "metadata": {
              "NAMESPACE": "default", "WORKLOAD_NAME": "{{{workload}}}", "SERVICE_ACCOUNT": "{{{serviceAccount}}}", "CLUSTER_ID": "Kubernetes",
              "LABELS": {"app": "{{{app}}}", "version": "{{{version}}}"} {{{more}}} } } }
            """);
    }

    private static Listener InboundListener() => XdsConfig.Parse<Listener>($$$"""
        {
          "name": "virtualInbound",
          "address": {"socket_address": {"address": "0.0.0.0", "port_value": 15006}},
          "use_original_dst": true,
          "traffic_direction": "INBOUND",
          "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              "stat_prefix": "inbound_0.0.0.0_9080",
              "route_config": {"name": "{{{InboundCluster}}}", "virtual_hosts": [{"name": "inbound|http|9080", "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "{{{InboundCluster}}}", "timeout": "0s"}}]}]},
              "http_filters": [{{{XdsConfig.RouterFilter}}}]}}]}]
        }
        """);

    private static Cluster InboundClusterFor(int port, bool http2) =>
        XdsConfig.StaticCluster(InboundCluster, [port], http2, """, "metadata": {"filter_metadata": {"istio": {"workload": "reviews-v2", "namespace": "default", "port": "9080"}}}""");

    private static RouteConfiguration Routes() =>
        XdsConfig.Routes("9080", $$$"""
            [{"name": "{{{ServiceHost}}}:9080", "domains": ["reviews", "reviews:9080", "{{{ServiceHost}}}", "{{{ServiceHost}}}:9080"],
              "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "{{{OutboundCluster}}}", "timeout": "0s"}}]}]
            """);

    private static Cluster OutboundClusterFor(int inboundPort, bool http2)
    {
        var h2 = http2
            ? """, "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {"@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", "explicit_http_config": {"http2_protocol_options": {}}}}"""
            : string.Empty;
        return XdsConfig.Parse<Cluster>($$$"""
            {"name": "{{{OutboundCluster}}}", "type": "STATIC", "connect_timeout": "1s" {{{h2}}},
             "metadata": {"filter_metadata": {"istio": {"host": "{{{ServiceHost}}}", "name": "reviews", "namespace": "default"} } },
             "load_assignment": {"cluster_name": "{{{OutboundCluster}}}", "endpoints": [{"lb_endpoints": [
               {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": {{{inboundPort.ToString(CultureInfo.InvariantCulture)}}} } } },
                "metadata": {"filter_metadata": {
                  "istio": {"workload": "reviews-v2", "namespace": "default", "service_account": "reviews"},
                  "envoy.lb": {"app": "reviews", "version": "v2"} } } }]}]}}
            """);
    }
}

/// <summary>Sets the Host header (and so HTTP/2's :authority) on every request.</summary>
internal sealed class AuthorityHandler(string authority) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.Host = authority;
        return base.SendAsync(request, cancellationToken);
    }
}
