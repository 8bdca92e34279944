using System.Diagnostics.Metrics;
using System.Text;
using Skein.Proxy.Protocol;

namespace Skein.Proxy.Telemetry;

/// <summary>
/// The proxy's own metrics: per-cluster request and TCP series (<c>skein_proxy_*</c>, labels direction, cluster,
/// response code and flags) kept in the same lock-free series tables as the Istio metrics, and rare events
/// (config updates) as System.Diagnostics.Metrics instruments on meter <c>Skein.Proxy</c>.
/// </summary>
internal sealed class ProxyMetrics : IRequestObserver, IConnectionObserver, IMetricsSource, IDisposable
{
    public const string MeterName = "Skein.Proxy";

    private readonly Meter _meter;
    private readonly Counter<long> _configUpdates;
    private readonly SeriesTable<RequestKey, RequestSeries> _requests = new(IstioMetrics.MaxSeries, static k => new RequestSeries(k));
    private readonly SeriesTable<ConnectionKey, ConnectionSeries> _connections = new(IstioMetrics.MaxSeries, static k => new ConnectionSeries(k));

    public ProxyMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _configUpdates = _meter.CreateCounter<long>("skein_proxy_config_updates_total", description: "xDS responses handled, by type and result (ack, nack).");
    }

    public static IReadOnlyList<double> Buckets => FixedHistogram.DefaultBounds;

    public Meter Meter => _meter;

    public void OnRequestCompleted(ProxyContext ctx)
    {
        var series = _requests.Get(new RequestKey(ctx.Connection.Role == ListenerRole.Inbound, ctx.Cluster?.Name ?? "-", ctx.StatusCode, ctx.Flags));
        if (series is null)
        {
            return;
        }

        Interlocked.Increment(ref series.Count);
        Interlocked.Add(ref series.RequestBytes, ctx.BytesReceived);
        Interlocked.Add(ref series.ResponseBytes, ctx.BytesSent);
        series.Duration.Record(ctx.DurationMilliseconds);
    }

    public void OnConnectionClosed(TcpConnectionRecord connection)
    {
        var series = _connections.Get(new ConnectionKey(connection.Info.Role == ListenerRole.Inbound, connection.Cluster ?? "-"));
        if (series is null)
        {
            return;
        }

        Interlocked.Increment(ref series.Closed);
        Interlocked.Add(ref series.Sent, connection.Info.BytesSent);
        Interlocked.Add(ref series.Received, connection.Info.BytesReceived);
    }

    public void ConfigUpdate(string typeUrl, bool accepted) =>
        _configUpdates.Add(1, new KeyValuePair<string, object?>("type_url", typeUrl), new KeyValuePair<string, object?>("result", accepted ? "ack" : "nack"));

    public void WritePrometheus(StringBuilder sb)
    {
        var requests = _requests.All.ToArray();
        Array.Sort(requests, static (a, b) => string.CompareOrdinal(a.Labels, b.Labels));
        Counter(sb, requests, "skein_proxy_requests_total", "HTTP requests completed by the proxy.", static s => Volatile.Read(ref s.Count));
        Prometheus.Header(sb, "skein_proxy_request_duration_milliseconds", "histogram", "Time from the first request byte to the last response byte.");
        foreach (var s in requests)
        {
            s.Duration.Write(sb, "skein_proxy_request_duration_milliseconds", s.Labels);
        }

        Counter(sb, requests, "skein_proxy_request_bytes_total", "HTTP request body bytes received.", static s => Volatile.Read(ref s.RequestBytes));
        Counter(sb, requests, "skein_proxy_response_bytes_total", "HTTP response body bytes sent.", static s => Volatile.Read(ref s.ResponseBytes));

        var connections = _connections.All.ToArray();
        Array.Sort(connections, static (a, b) => string.CompareOrdinal(a.Labels, b.Labels));
        Counter(sb, connections, "skein_proxy_tcp_connections_closed_total", "Opaque TCP connections proxied and closed.", static s => Volatile.Read(ref s.Closed));
        Counter(sb, connections, "skein_proxy_tcp_sent_bytes_total", "Bytes sent to downstream on opaque TCP connections.", static s => Volatile.Read(ref s.Sent));
        Counter(sb, connections, "skein_proxy_tcp_received_bytes_total", "Bytes received from downstream on opaque TCP connections.", static s => Volatile.Read(ref s.Received));
    }

    public void WriteStats(StringBuilder sb)
    {
        foreach (var s in _requests.All)
        {
            sb.Append("skein_proxy_requests_total{").Append(s.Labels).Append("}: ").Append(Volatile.Read(ref s.Count)).Append('\n');
        }
    }

    public void Dispose() => _meter.Dispose();

    private static void Counter<T>(StringBuilder sb, T[] series, string name, string help, Func<T, long> value)
        where T : ILabelled
    {
        if (series.Length == 0)
        {
            return;
        }

        Prometheus.Header(sb, name, "counter", help);
        foreach (var s in series)
        {
            Prometheus.Sample(sb, name, s.Labels, value(s));
        }
    }

    private interface ILabelled
    {
        string Labels { get; }
    }

    private readonly record struct RequestKey(bool Inbound, string Cluster, int Code, ResponseFlags Flags);

    private readonly record struct ConnectionKey(bool Inbound, string Cluster);

    private sealed class RequestSeries(RequestKey k) : ILabelled
    {
        public long Count;
        public long RequestBytes;
        public long ResponseBytes;

        public string Labels { get; } = new StringBuilder()
            .Label("cluster", k.Cluster)
            .Label("direction", k.Inbound ? "inbound" : "outbound")
            .Label("response_code", Prometheus.Status(k.Code))
            .Label("response_flags", ResponseFlagsFormatter.Format(k.Flags))
            .ToString();

        public FixedHistogram Duration { get; } = new(FixedHistogram.DefaultBounds, 1000);
    }

    private sealed class ConnectionSeries(ConnectionKey k) : ILabelled
    {
        public long Closed;
        public long Sent;
        public long Received;

        public string Labels { get; } = new StringBuilder().Label("cluster", k.Cluster).Label("direction", k.Inbound ? "inbound" : "outbound").ToString();
    }
}
