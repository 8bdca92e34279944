using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Skein.ControlPlane.Api;

namespace Skein.ControlPlane.Tracing;

/// <summary>
/// The built-in OTLP/HTTP trace receiver and what `skein trace` and the dashboard read.
/// <list type="bullet">
///   <item><c>POST /v1/traces</c>: an <c>ExportTraceServiceRequest</c> as <c>application/x-protobuf</c> or
///         <c>application/json</c> (optionally <c>Content-Encoding: gzip</c>); answers an empty
///         <c>ExportTraceServiceResponse</c> in the same encoding, with <c>partialSuccess</c> when spans had invalid
///         ids; 400 for an unreadable body, 415 for another content type (OTLP/HTTP's rules).</item>
///   <item><c>GET /api/v1/traces?limit=20&amp;service=&amp;minDuration=</c>: the most recent traces, newest first.</item>
///   <item><c>GET /api/v1/traces/{id}</c>: one trace's spans in tree order with depth, offsets and durations (ms).</item>
/// </list>
/// </summary>
internal static class TracingApi
{
    private const int MaxBody = 16 * 1024 * 1024;

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/traces", async (HttpContext http, TraceStore store) =>
        {
            var request = http.Request;
            var type = (request.ContentType ?? "").Split(';')[0].Trim().ToLowerInvariant();
            var protobuf = type is "application/x-protobuf" or "application/protobuf";
            if (!protobuf && type != "application/json")
            {
                return Results.Text("{\"error\":\"content type must be application/x-protobuf or application/json\"}\n", "application/json", null, StatusCodes.Status415UnsupportedMediaType);
            }

            var body = await ReadBodyAsync(request);
            if (body is null)
            {
                return Answer(protobuf, StatusCodes.Status413PayloadTooLarge, "request body larger than 16 MiB or not valid gzip", 0);
            }

            var batch = protobuf ? OtlpProtobuf.Read(body) : OtlpJson.Read(body);
            if (batch.Error is { } error)
            {
                return Answer(protobuf, StatusCodes.Status400BadRequest, error, 0);
            }

            store.Add(batch.Spans);
            return Answer(protobuf, StatusCodes.Status200OK, batch.Rejected > 0 ? "spans without a valid trace id or span id were dropped" : null, batch.Rejected);
        });

        app.MapGet("/api/v1/traces", (HttpRequest request, TraceStore store) =>
        {
            var limit = int.TryParse(request.Query["limit"], NumberStyles.None, CultureInfo.InvariantCulture, out var l) ? Math.Clamp(l, 1, 1000) : 20;
            var service = request.Query["service"].ToString() is { Length: > 0 } s ? s : null;
            var minDuration = 0.0;
            if (request.Query["minDuration"].ToString() is { Length: > 0 } d)
            {
                if (!Skein.Api.Model.Duration.TryParse(d, out var parsed))
                {
                    return ApiJson.Error(StatusCodes.Status400BadRequest, $"minDuration: \"{d}\" is not a duration such as 100ms");
                }

                minDuration = parsed.Value.TotalMilliseconds;
            }

            var traces = store.Recent(limit, service, minDuration);
            return ApiJson.Write(200, w =>
            {
                w.WriteStartObject();
                w.WriteNumber("kept", store.Count);
                w.WriteStartArray("traces");
                foreach (var t in traces)
                {
                    WriteSummary(w, t);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            });
        });

        app.MapGet("/api/v1/traces/{id}", (string id, TraceStore store) =>
        {
            if (store.Get(id) is not { Count: > 0 } spans)
            {
                return ApiJson.Error(StatusCodes.Status404NotFound, $"no trace {id} (traces are kept in memory, the most recent first; see /api/v1/traces)");
            }

            var summary = TraceStore.Summarize(spans);
            var tree = TraceStore.Tree(spans);
            return ApiJson.Write(200, w =>
            {
                w.WriteStartObject();
                w.WritePropertyName("trace");
                WriteSummary(w, summary);
                w.WriteStartArray("spans");
                foreach (var node in tree)
                {
                    var s = node.Span;
                    w.WriteStartObject();
                    w.WriteString("spanId", s.SpanId);
                    w.WriteString("parentSpanId", s.ParentSpanId);
                    w.WriteNumber("depth", node.Depth);
                    w.WriteBoolean("orphan", node.Orphan);
                    w.WriteString("name", s.Name);
                    w.WriteString("service", s.Service);
                    w.WriteString("kind", s.Kind.ToString().ToLowerInvariant());
                    ApiJson.Time(w, "start", FromNanos(s.StartUnixNano));
                    w.WriteNumber("offsetMs", Math.Round((s.StartUnixNano - summary.StartUnixNano) / 1e6, 3));
                    w.WriteNumber("durationMs", Math.Round(s.DurationMs, 3));
                    w.WriteString("status", s.StatusCode switch { 1 => "ok", 2 => "error", _ => "unset" });
                    if (s.StatusMessage.Length > 0)
                    {
                        w.WriteString("statusMessage", s.StatusMessage);
                    }

                    w.WriteBoolean("error", s.IsError);
                    w.WriteStartObject("attributes");
                    foreach (var (k, v) in s.Attributes)
                    {
                        w.WriteString(k, v);
                    }

                    w.WriteEndObject();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            });
        });
    }

    private static void WriteSummary(Utf8JsonWriter w, TraceSummary t)
    {
        w.WriteStartObject();
        w.WriteString("traceId", t.TraceId);
        w.WriteString("rootName", t.RootName);
        w.WriteString("rootService", t.RootService);
        ApiJson.Time(w, "start", FromNanos(t.StartUnixNano));
        w.WriteNumber("durationMs", Math.Round(t.DurationMs, 3));
        w.WriteNumber("spanCount", t.SpanCount);
        w.WriteStartArray("services");
        foreach (var s in t.Services)
        {
            w.WriteStringValue(s);
        }

        w.WriteEndArray();
        w.WriteBoolean("error", t.Error);
        w.WriteEndObject();
    }

    private static DateTimeOffset FromNanos(long nanos) => DateTimeOffset.UnixEpoch.AddTicks(nanos / 100);

    /// <summary>OTLP/HTTP's answer: an ExportTraceServiceResponse (partial_success when spans were rejected) or a Status.</summary>
    private static IResult Answer(bool protobuf, int status, string? message, int rejected)
    {
        if (status == StatusCodes.Status200OK)
        {
            if (protobuf)
            {
                return new ProtobufResult(status, rejected > 0 ? PartialSuccess(rejected, message!) : []);
            }

            var json = rejected > 0
                ? JsonSerializer.Serialize(new Dictionary<string, object> { ["partialSuccess"] = new Dictionary<string, object> { ["rejectedSpans"] = rejected.ToString(CultureInfo.InvariantCulture), ["errorMessage"] = message! } })
                : "{}";
            return Results.Text(json + "\n", "application/json", null, status);
        }

        // google.rpc.Status { code = 1 (int32), message = 2 }: 3 is INVALID_ARGUMENT.
        if (protobuf)
        {
            return new ProtobufResult(status, RpcStatus(3, message ?? ""));
        }

        return Results.Text(JsonSerializer.Serialize(new Dictionary<string, object> { ["code"] = 3, ["message"] = message ?? "" }) + "\n", "application/json", null, status);
    }

    private static byte[] PartialSuccess(int rejected, string message)
    {
        // ExportTraceServiceResponse { partial_success = 1 { rejected_spans = 1 (int64), error_message = 2 } }
        var inner = new List<byte> { 0x08 };
        Varint(inner, (ulong)rejected);
        var text = System.Text.Encoding.UTF8.GetBytes(message);
        inner.Add(0x12);
        Varint(inner, (ulong)text.Length);
        inner.AddRange(text);
        var outer = new List<byte> { 0x0a };
        Varint(outer, (ulong)inner.Count);
        outer.AddRange(inner);
        return [.. outer];
    }

    private static byte[] RpcStatus(int code, string message)
    {
        var bytes = new List<byte> { 0x08 };
        Varint(bytes, (ulong)code);
        var text = System.Text.Encoding.UTF8.GetBytes(message);
        bytes.Add(0x12);
        Varint(bytes, (ulong)text.Length);
        bytes.AddRange(text);
        return [.. bytes];
    }

    private static void Varint(List<byte> into, ulong value)
    {
        while (value >= 0x80)
        {
            into.Add((byte)(value | 0x80));
            value >>= 7;
        }

        into.Add((byte)value);
    }

    /// <summary>The body, gunzipped when the client said so; null past the size limit.</summary>
    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request)
    {
        var source = request.Body;
        var gzip = string.Equals(request.Headers.ContentEncoding.ToString(), "gzip", StringComparison.OrdinalIgnoreCase);
        await using var decoded = gzip ? new GZipStream(source, CompressionMode.Decompress, leaveOpen: true) : null;
        var stream = (Stream?)decoded ?? source;
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
            {
                if (buffer.Length + read > MaxBody)
                {
                    return null;
                }

                buffer.Write(chunk, 0, read);
            }
        }
        catch (InvalidDataException)
        {
            return null;
        }

        return buffer.ToArray();
    }
}

/// <summary>A protobuf answer with its status code.</summary>
internal sealed class ProtobufResult(int status, byte[] body) : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = status;
        httpContext.Response.ContentType = "application/x-protobuf";
        httpContext.Response.ContentLength = body.Length;
        await httpContext.Response.Body.WriteAsync(body);
    }
}
