using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Skein.Proxy.Protocol;

namespace Skein.Proxy.Telemetry;

/// <summary>
/// The proxy's own instruments (System.Diagnostics.Metrics, meter <c>Skein.Proxy</c>). Istio's standard metrics
/// (<c>istio_requests_total</c>, …) will be further instruments on this meter, fed by the same observer hook.
/// </summary>
internal sealed class ProxyMetrics : IRequestObserver, IConnectionObserver, IDisposable
{
    public const string MeterName = "Skein.Proxy";

    private static readonly double[] DurationBuckets = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
    private static readonly string[] StatusText = CreateStatusText();

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _requestBytes;
    private readonly Counter<long> _responseBytes;
    private readonly Counter<long> _connections;
    private readonly Counter<long> _tcpSent;
    private readonly Counter<long> _tcpReceived;
    private readonly Counter<long> _configUpdates;

    public ProxyMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _requests = _meter.CreateCounter<long>("skein_proxy_requests_total", description: "HTTP requests completed by the proxy.");
        _duration = _meter.CreateHistogram<double>(
            "skein_proxy_request_duration_milliseconds",
            unit: "ms",
            description: "Time from the first request byte to the last response byte.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _requestBytes = _meter.CreateCounter<long>("skein_proxy_request_bytes_total", description: "HTTP request body bytes received.");
        _responseBytes = _meter.CreateCounter<long>("skein_proxy_response_bytes_total", description: "HTTP response body bytes sent.");
        _connections = _meter.CreateCounter<long>("skein_proxy_tcp_connections_closed_total", description: "Opaque TCP connections proxied and closed.");
        _tcpSent = _meter.CreateCounter<long>("skein_proxy_tcp_sent_bytes_total", description: "Bytes sent to downstream on opaque TCP connections.");
        _tcpReceived = _meter.CreateCounter<long>("skein_proxy_tcp_received_bytes_total", description: "Bytes received from downstream on opaque TCP connections.");
        _configUpdates = _meter.CreateCounter<long>("skein_proxy_config_updates_total", description: "xDS responses handled, by type and result (ack, nack).");
    }

    public static IReadOnlyList<double> Buckets => DurationBuckets;

    public Meter Meter => _meter;

    public void OnRequestCompleted(ProxyContext ctx)
    {
        var direction = ctx.Connection.Role == ListenerRole.Inbound ? "inbound" : "outbound";
        var code = ctx.StatusCode is >= 0 and < 600 ? StatusText[ctx.StatusCode] : ctx.StatusCode.ToString(CultureInfo.InvariantCulture);
        var flags = ResponseFlagsFormatter.Format(ctx.Flags);
        var cluster = ctx.Cluster?.Name ?? "-";
        var tags = new TagList
        {
            { "direction", direction },
            { "response_code", code },
            { "response_flags", flags },
            { "cluster", cluster },
        };
        _requests.Add(1, tags);
        _duration.Record(ctx.DurationMilliseconds, tags);
        _requestBytes.Add(ctx.BytesReceived, tags);
        _responseBytes.Add(ctx.BytesSent, tags);
    }

    public void OnConnectionClosed(DownstreamConnection connection, string? cluster, TimeSpan duration)
    {
        var tags = new TagList
        {
            { "direction", connection.Role == ListenerRole.Inbound ? "inbound" : "outbound" },
            { "cluster", cluster ?? "-" },
        };
        _connections.Add(1, tags);
        _tcpSent.Add(connection.BytesSent, tags);
        _tcpReceived.Add(connection.BytesReceived, tags);
    }

    public void ConfigUpdate(string typeUrl, bool accepted) =>
        _configUpdates.Add(1, new KeyValuePair<string, object?>("type_url", typeUrl), new KeyValuePair<string, object?>("result", accepted ? "ack" : "nack"));

    public void Dispose() => _meter.Dispose();

    private static string[] CreateStatusText()
    {
        var s = new string[600];
        for (var i = 0; i < s.Length; i++)
        {
            s[i] = i.ToString(CultureInfo.InvariantCulture);
        }

        return s;
    }
}
