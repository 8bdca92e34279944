using System.Collections.Concurrent;
using System.Text;
using Skein.Proxy.Protocol;

namespace Skein.Proxy.Telemetry;

/// <summary>
/// Istio's standard metrics with Istio's names, labels and buckets, as both the client-side
/// (<c>reporter="source"</c>, outbound) and the server-side (<c>reporter="destination"</c>, inbound) proxy report
/// them: <c>istio_requests_total</c>, <c>istio_request_duration_milliseconds</c>, <c>istio_request_bytes</c>,
/// <c>istio_response_bytes</c> (HTTP and gRPC) and <c>istio_tcp_*</c> (opaque TCP). A request costs one lookup of a
/// series keyed by interned label objects and a few interlocked increments; label text is rendered once per series.
/// </summary>
internal sealed class IstioMetrics : IRequestObserver, IConnectionObserver, IMetricsSource
{
    public const int MaxSeries = 20_000;

    private readonly SeriesTable<HttpKey, HttpSeries> _http = new(MaxSeries, static k => new HttpSeries(k));
    private readonly SeriesTable<TcpKey, TcpSeries> _tcp = new(MaxSeries, static k => new TcpSeries(k));
    private readonly ConcurrentDictionary<TcpConnectionRecord, TcpState> _open = new();
    private readonly ProxyTelemetry _telemetry;

    public IstioMetrics(ProxyTelemetry telemetry) => _telemetry = telemetry;

    public void OnRequestCompleted(ProxyContext ctx)
    {
        _telemetry.Resolve(ctx);
        ref var t = ref ctx.Telemetry;
        var key = new HttpKey(
            t.Source,
            t.Destination,
            t.Service,
            ctx.Connection.Role == ListenerRole.Inbound,
            ctx.IsGrpc,
            t.Security,
            (short)Math.Clamp(ctx.StatusCode, 0, short.MaxValue),
            (short)t.GrpcStatus,
            ctx.Flags);
        var series = _http.Get(key);
        if (series is null)
        {
            return;
        }

        Interlocked.Increment(ref series.Requests);
        series.Duration.Record(ctx.DurationMilliseconds);
        series.RequestBytes.Record(ctx.BytesReceived);
        series.ResponseBytes.Record(ctx.BytesSent);
    }

    public void OnConnectionOpened(TcpConnectionRecord connection) => Track(connection, connected: true);

    public void OnConnectionClosed(TcpConnectionRecord connection)
    {
        // A connection that never connected is reported once, at close, with UF (as Istio does).
        var state = _open.TryRemove(connection, out var s) ? s : Track(connection, connected: false);
        if (state is null)
        {
            return;
        }

        state.Flush(connection.Info);
        Interlocked.Increment(ref state.Series.Closed);
    }

    public void WritePrometheus(StringBuilder sb)
    {
        // Series whose label text is the same (never expected; interning makes keys unique) are written once each by name.
        var http = _http.All.ToArray();
        Array.Sort(http, static (a, b) => string.CompareOrdinal(a.Labels, b.Labels));
        Prometheus.Header(sb, "istio_requests_total", "counter", "Requests handled by the proxy (Istio standard metric).");
        foreach (var s in http)
        {
            Prometheus.Sample(sb, "istio_requests_total", s.Labels, Volatile.Read(ref s.Requests));
        }

        WriteHistograms(sb, http, "istio_request_duration_milliseconds", "Request duration in milliseconds (Istio standard metric).", static s => s.Duration);
        WriteHistograms(sb, http, "istio_request_bytes", "HTTP request body sizes in bytes (Istio standard metric).", static s => s.RequestBytes);
        WriteHistograms(sb, http, "istio_response_bytes", "HTTP response body sizes in bytes (Istio standard metric).", static s => s.ResponseBytes);

        // Long-lived connections report their bytes so far on every scrape, as Istio's periodic TCP reporting does.
        foreach (var (connection, state) in _open)
        {
            state.Flush(connection.Info);
        }

        var tcp = _tcp.All.ToArray();
        Array.Sort(tcp, static (a, b) => string.CompareOrdinal(a.Labels, b.Labels));
        WriteCounters(sb, tcp, "istio_tcp_connections_opened_total", "TCP connections opened (Istio standard metric).", static s => ref s.Opened);
        WriteCounters(sb, tcp, "istio_tcp_connections_closed_total", "TCP connections closed (Istio standard metric).", static s => ref s.Closed);
        WriteCounters(sb, tcp, "istio_tcp_sent_bytes_total", "Bytes sent to the downstream on TCP connections (Istio standard metric).", static s => ref s.Sent);
        WriteCounters(sb, tcp, "istio_tcp_received_bytes_total", "Bytes received from the downstream on TCP connections (Istio standard metric).", static s => ref s.Received);
        Prometheus.Header(sb, "skein_proxy_metric_series_overflow_total", "counter", "Measurements not recorded because a metric family reached its series limit.");
        Prometheus.Sample(sb, "skein_proxy_metric_series_overflow_total", string.Empty, _http.Overflow + _tcp.Overflow);
    }

    public void WriteStats(StringBuilder sb)
    {
        long requests = 0;
        foreach (var s in _http.All)
        {
            requests += Volatile.Read(ref s.Requests);
        }

        long opened = 0;
        foreach (var s in _tcp.All)
        {
            opened += Volatile.Read(ref s.Opened);
        }

        sb.Append("istio.requests_total: ").Append(requests).Append('\n');
        sb.Append("istio.tcp_connections_opened_total: ").Append(opened).Append('\n');
    }

    private TcpState? Track(TcpConnectionRecord connection, bool connected)
    {
        var info = connection.Info;
        var inbound = info.Role == ListenerRole.Inbound;
        var resolver = _telemetry.Resolver;
        var local = _telemetry.Local;
        var config = connection.Config;
        WorkloadPeer source, destination;
        ServiceLabels service;
        SecurityPolicy security;
        var peerId = info.Peer?.SpiffeId;
        if (inbound)
        {
            source = resolver.FromAddress(config, info.RemoteEndPoint?.Address) ?? WorkloadPeer.Unknown;
            source = peerId is null ? source : resolver.WithPrincipal(source, peerId);
            destination = peerId is null ? local.Peer : local.PeerWithPrincipal;
            service = ServiceLabels.Intern(local.Peer.CanonicalService, local.Peer.CanonicalService, local.Namespace); // no Host header: Istio's canonical name
            security = peerId is null ? SecurityPolicy.None : SecurityPolicy.MutualTls;
        }
        else
        {
            var cluster = connection.Cluster is { } name ? config.Clusters.GetValueOrDefault(name) : null;
            var endpoint = connection.FindEndpoint(cluster);
            var mtls = cluster?.Runtime.Settings.Tls is not null;
            source = mtls ? local.PeerWithPrincipal : local.Peer;
            destination = (endpoint is null ? null : resolver.FromEndpoint(endpoint, mtls))
                ?? resolver.FromAddress(config, (connection.Target as System.Net.IPEndPoint)?.Address)
                ?? WorkloadPeer.Unknown;
            service = resolver.TcpOutboundService(cluster, connection.Cluster);
            security = SecurityPolicy.Unknown;
        }

        var key = new TcpKey(source, destination, service, inbound, security, connected ? ResponseFlags.None : ResponseFlags.UpstreamConnectionFailure);
        var series = _tcp.Get(key);
        if (series is null)
        {
            return null;
        }

        Interlocked.Increment(ref series.Opened);
        var state = new TcpState(series);
        if (connected)
        {
            _open[connection] = state;
        }

        return state;
    }

    private static void WriteHistograms(StringBuilder sb, HttpSeries[] series, string name, string help, Func<HttpSeries, FixedHistogram> histogram)
    {
        Prometheus.Header(sb, name, "histogram", help);
        foreach (var s in series)
        {
            histogram(s).Write(sb, name, s.Labels);
        }
    }

    private delegate ref long CounterField(TcpSeries series);

    private static void WriteCounters(StringBuilder sb, TcpSeries[] series, string name, string help, CounterField field)
    {
        Prometheus.Header(sb, name, "counter", help);
        foreach (var s in series)
        {
            Prometheus.Sample(sb, name, s.Labels, Volatile.Read(ref field(s)));
        }
    }

    /// <summary>Renders the peer and service labels in Istio's order.</summary>
    private static void PeerLabels(StringBuilder sb, bool inbound, WorkloadPeer source, WorkloadPeer destination, ServiceLabels service)
    {
        sb.Label("reporter", inbound ? "destination" : "source")
            .Label("source_workload", source.Workload)
            .Label("source_canonical_service", source.CanonicalService)
            .Label("source_canonical_revision", source.CanonicalRevision)
            .Label("source_workload_namespace", source.Namespace)
            .Label("source_principal", source.Principal)
            .Label("source_app", source.App)
            .Label("source_version", source.Version)
            .Label("source_cluster", source.Cluster)
            .Label("destination_workload", destination.Workload)
            .Label("destination_workload_namespace", destination.Namespace)
            .Label("destination_principal", destination.Principal)
            .Label("destination_app", destination.App)
            .Label("destination_version", destination.Version)
            .Label("destination_service", service.Host)
            .Label("destination_canonical_service", destination.CanonicalService)
            .Label("destination_canonical_revision", destination.CanonicalRevision)
            .Label("destination_service_name", service.Name)
            .Label("destination_service_namespace", service.Namespace)
            .Label("destination_cluster", destination.Cluster);
    }

    private static string Security(SecurityPolicy p) => p switch
    {
        SecurityPolicy.MutualTls => "mutual_tls",
        SecurityPolicy.None => "none",
        _ => "unknown",
    };

    /// <summary>Everything that tells HTTP series apart; peers and service compare by reference (they are interned).</summary>
    private readonly record struct HttpKey(
        WorkloadPeer Source, WorkloadPeer Destination, ServiceLabels Service, bool Inbound, bool Grpc, SecurityPolicy Security, short Code, short GrpcStatus, ResponseFlags Flags);

    private readonly record struct TcpKey(WorkloadPeer Source, WorkloadPeer Destination, ServiceLabels Service, bool Inbound, SecurityPolicy Security, ResponseFlags Flags);

    private sealed class HttpSeries
    {
        public long Requests;

        public HttpSeries(HttpKey k)
        {
            var sb = new StringBuilder(768);
            PeerLabels(sb, k.Inbound, k.Source, k.Destination, k.Service);
            sb.Label("request_protocol", k.Grpc ? "grpc" : "http")
                .Label("response_code", Prometheus.Status(k.Code))
                .Label("grpc_response_status", k.GrpcStatus >= 0 ? Prometheus.Status(k.GrpcStatus) : string.Empty)
                .Label("response_flags", ResponseFlagsFormatter.Format(k.Flags))
                .Label("connection_security_policy", Security(k.Security));
            Labels = sb.ToString();
        }

        public string Labels { get; }

        public FixedHistogram Duration { get; } = new(FixedHistogram.DefaultBounds, 1000);

        public FixedHistogram RequestBytes { get; } = new(FixedHistogram.DefaultBounds, 1);

        public FixedHistogram ResponseBytes { get; } = new(FixedHistogram.DefaultBounds, 1);
    }

    private sealed class TcpSeries
    {
        public long Opened;
        public long Closed;
        public long Sent;
        public long Received;

        public TcpSeries(TcpKey k)
        {
            var sb = new StringBuilder(768);
            PeerLabels(sb, k.Inbound, k.Source, k.Destination, k.Service);
            sb.Label("request_protocol", "tcp")
                .Label("response_flags", ResponseFlagsFormatter.Format(k.Flags))
                .Label("connection_security_policy", Security(k.Security));
            Labels = sb.ToString();
        }

        public string Labels { get; }
    }

    /// <summary>A connection's series and how many of its bytes were reported so far.</summary>
    private sealed class TcpState(TcpSeries series)
    {
        private long _sent;
        private long _received;

        public TcpSeries Series => series;

        public void Flush(DownstreamConnection info)
        {
            lock (this)
            {
                var sent = info.BytesSent;
                var received = info.BytesReceived;
                Interlocked.Add(ref series.Sent, sent - _sent);
                Interlocked.Add(ref series.Received, received - _received);
                _sent = sent;
                _received = received;
            }
        }
    }
}
