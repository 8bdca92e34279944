using System.Buffers;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Skein.Proxy.Telemetry;

namespace Skein.Proxy.Tracing;

/// <summary>
/// Sends finished spans to an OTLP/HTTP collector (<c>POST /v1/traces</c>) in OTLP's JSON encoding, which every
/// OTLP/HTTP receiver accepts (no protobuf definitions needed). The request path only enqueues: the queue is
/// bounded and a full queue drops the span (counted); a background loop sends batches of up to
/// <see cref="MaxBatch"/> spans, or whatever arrived within the export interval.
/// </summary>
internal sealed partial class OtlpExporter : IMetricsSource, IAsyncDisposable
{
    public const int QueueCapacity = 4096;
    public const int MaxBatch = 512;

    private static readonly MediaTypeHeaderValue Json = new("application/json");

    private readonly Channel<SpanRecord> _queue = Channel.CreateBounded<SpanRecord>(new BoundedChannelOptions(QueueCapacity)
    {
        FullMode = BoundedChannelFullMode.Wait, // with TryWrite only: a full queue refuses, the caller counts the drop
        SingleReader = true,
    });

    private readonly Uri _collector;
    private readonly LocalWorkload _local;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly Task _loop;
    private long _exported;
    private long _dropped;
    private long _failed;
    private long _lastWarning = long.MinValue;

    public OtlpExporter(Uri collector, LocalWorkload local, TimeSpan interval, TimeProvider time, ILogger logger)
    {
        _collector = collector;
        _local = local;
        _interval = interval;
        _time = time;
        _logger = logger;
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) })
        {
            Timeout = TimeSpan.FromSeconds(10),
        };
        _loop = Task.Run(RunAsync);
    }

    public Uri Collector => _collector;

    public long Exported => Volatile.Read(ref _exported);

    public long Dropped => Volatile.Read(ref _dropped);

    public long Failed => Volatile.Read(ref _failed);

    /// <summary>Queues a span; never blocks. A full queue drops it.</summary>
    public void Enqueue(SpanRecord span)
    {
        if (!_queue.Writer.TryWrite(span))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    public void WritePrometheus(StringBuilder sb)
    {
        Prometheus.Header(sb, "skein_proxy_spans_exported_total", "counter", "Spans sent to the OTLP collector.");
        Prometheus.Sample(sb, "skein_proxy_spans_exported_total", string.Empty, Exported);
        Prometheus.Header(sb, "skein_proxy_spans_dropped_total", "counter", "Spans dropped because the export queue was full.");
        Prometheus.Sample(sb, "skein_proxy_spans_dropped_total", string.Empty, Dropped);
        Prometheus.Header(sb, "skein_proxy_spans_failed_total", "counter", "Spans the collector did not accept (unreachable or an error status).");
        Prometheus.Sample(sb, "skein_proxy_spans_failed_total", string.Empty, Failed);
    }

    public void WriteStats(StringBuilder sb) =>
        sb.Append("tracing.otlp.spans_exported: ").Append(Exported).Append('\n')
            .Append("tracing.otlp.spans_dropped: ").Append(Dropped).Append('\n')
            .Append("tracing.otlp.spans_failed: ").Append(Failed).Append('\n');

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAny(_loop, Task.Delay(TimeSpan.FromSeconds(3))).ConfigureAwait(false);
        _http.Dispose();
    }

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<SpanRecord>(MaxBatch);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // Give the batch an interval to fill unless it is already full.
            if (reader.Count < MaxBatch)
            {
                try
                {
                    await Task.Delay(_interval, _time).ConfigureAwait(false);
                }
                catch (ObjectDisposedException)
                {
                }
            }

            while (batch.Count < MaxBatch && reader.TryRead(out var span))
            {
                batch.Add(span);
            }

            await SendAsync(batch).ConfigureAwait(false);
            batch.Clear();
        }
    }

    private async Task SendAsync(List<SpanRecord> batch)
    {
        var buffer = new ArrayBufferWriter<byte>(batch.Count * 1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            WriteRequest(w, _local, batch);
        }

        try
        {
            using var content = new ReadOnlyMemoryContent(buffer.WrittenMemory);
            content.Headers.ContentType = Json;
            using var response = await _http.PostAsync(_collector, content).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                Interlocked.Add(ref _exported, batch.Count);
                return;
            }

            if (ShouldWarn())
            {
                Log.ExportRejected(_logger, _collector, (int)response.StatusCode, batch.Count);
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            if (ShouldWarn())
            {
                Log.ExportFailed(_logger, _collector, batch.Count, e.Message);
            }
        }

        Interlocked.Add(ref _failed, batch.Count);
    }

    /// <summary>At most one warning a minute: a collector that is down must not flood the proxy's log.</summary>
    private bool ShouldWarn()
    {
        var now = _time.GetTimestamp();
        if (_lastWarning != long.MinValue && _time.GetElapsedTime(_lastWarning, now) < TimeSpan.FromMinutes(1))
        {
            return false;
        }

        _lastWarning = now;
        return true;
    }

    /// <summary>Writes an OTLP <c>ExportTraceServiceRequest</c> in the JSON encoding (hex ids, 64-bit integers as strings).</summary>
    internal static void WriteRequest(Utf8JsonWriter w, LocalWorkload local, IReadOnlyList<SpanRecord> spans)
    {
        w.WriteStartObject();
        w.WriteStartArray("resourceSpans");
        w.WriteStartObject();
        w.WriteStartObject("resource");
        w.WriteStartArray("attributes");
        var peer = local.Peer;
        Attribute(w, "service.name", $"{peer.CanonicalService}.{local.Namespace}");
        Attribute(w, "service.namespace", local.Namespace);
        Attribute(w, "service.instance.id", local.Instance ?? local.NodeId);
        Attribute(w, "k8s.namespace.name", local.Namespace);
        Attribute(w, "telemetry.sdk.name", "skein-proxy");
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteStartArray("scopeSpans");
        w.WriteStartObject();
        w.WriteStartObject("scope");
        w.WriteString("name", "skein-proxy");
        w.WriteEndObject();
        w.WriteStartArray("spans");
        foreach (var s in spans)
        {
            w.WriteStartObject();
            w.WriteString("traceId", s.Ids.TraceIdHex);
            w.WriteString("spanId", s.Ids.SpanIdHex);
            if (s.Ids.ParentSpanId != 0)
            {
                w.WriteString("parentSpanId", TraceHeaders.Hex(s.Ids.ParentSpanId));
            }

            if (!string.IsNullOrEmpty(s.TraceState))
            {
                w.WriteString("traceState", s.TraceState);
            }

            w.WriteString("name", s.Name);
            w.WriteNumber("kind", s.IsServer ? 2 : 3); // SPAN_KIND_SERVER, SPAN_KIND_CLIENT
            w.WriteString("startTimeUnixNano", s.StartUnixNano.ToString(System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("endTimeUnixNano", s.EndUnixNano.ToString(System.Globalization.CultureInfo.InvariantCulture));
            w.WriteStartArray("attributes");
            foreach (var (k, v) in s.Attributes)
            {
                Attribute(w, k, v);
            }

            w.WriteEndArray();
            w.WriteStartObject("status");
            w.WriteNumber("code", s.IsError ? 2 : 0); // STATUS_CODE_ERROR, STATUS_CODE_UNSET
            w.WriteEndObject();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Attribute(Utf8JsonWriter w, string key, string value)
    {
        w.WriteStartObject();
        w.WriteString("key", key);
        w.WriteStartObject("value");
        w.WriteString("stringValue", value);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 70, Level = LogLevel.Warning, Message = "OTLP collector {Collector} answered {Status}; {Count} spans not exported")]
        public static partial void ExportRejected(ILogger logger, Uri collector, int status, int count);

        [LoggerMessage(EventId = 71, Level = LogLevel.Warning, Message = "OTLP collector {Collector} unreachable; {Count} spans not exported: {Reason}")]
        public static partial void ExportFailed(ILogger logger, Uri collector, int count, string reason);
    }
}
