using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Skein.Proxy.Protocol;

namespace Skein.Proxy.Telemetry;

/// <summary>
/// One JSON line per request with Envoy/Istio's default access log fields, written to a sink (stdout) by a
/// background writer so the request path never waits on the console.
/// </summary>
internal sealed class AccessLogObserver : IRequestObserver, IAsyncDisposable
{
    private readonly Channel<byte[]> _lines = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(8192)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });

    private readonly Task _writer;

    public AccessLogObserver(Stream sink)
    {
        _writer = Task.Run(() => WriteLoopAsync(sink));
    }

    public void OnRequestCompleted(ProxyContext ctx) => _lines.Writer.TryWrite(AccessLogFormat.Line(ctx));

    public async ValueTask DisposeAsync()
    {
        _lines.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }

    private async Task WriteLoopAsync(Stream sink)
    {
        await foreach (var line in _lines.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await sink.WriteAsync(line).ConfigureAwait(false);
                if (_lines.Reader.Count == 0)
                {
                    await sink.FlushAsync().ConfigureAwait(false);
                }
            }
            catch (IOException)
            {
                return;
            }
        }
    }
}

/// <summary>
/// The JSON record of one request, shared by the access log and the tap (serialized once per request, on demand).
/// Istio's default JSON access log fields plus the call's workloads and trace id:
/// <c>start_time, method, authority, path, protocol, response_code, response_flags, response_code_details,
/// upstream_transport_failure_reason, bytes_received, bytes_sent, duration, upstream_service_time, x_forwarded_for,
/// user_agent, request_id, trace_id, upstream_host, upstream_cluster, downstream_local_address,
/// downstream_remote_address, requested_server_name, route_name, reporter, source_workload, source_namespace,
/// source_principal, destination_workload, destination_namespace, destination_service, grpc_status</c>.
/// </summary>
internal static class AccessLogFormat
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>The record as one UTF-8 line ending in <c>\n</c>.</summary>
    public static byte[] Line(ProxyContext ctx)
    {
        if (ctx.Telemetry.LogLine is { } cached)
        {
            return cached;
        }

        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        var w = t_writer ??= new Utf8JsonWriter(buffer);
        w.Reset(buffer);
        Write(w, ctx);
        w.Flush();
        buffer.Write("\n"u8);
        return ctx.Telemetry.LogLine = buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes the access log record of <paramref name="ctx"/> (Istio's JSON field names).</summary>
    public static void Write(Utf8JsonWriter w, ProxyContext ctx)
    {
        ctx.Telemetry.Hooks?.Resolve(ctx);
        ref var t = ref ctx.Telemetry;
        var request = ctx.Http.Request;
        var headers = request.Headers;
        w.WriteStartObject();
        w.WriteString("start_time", ctx.StartTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
        w.WriteString("method", request.Method);
        w.WriteString("authority", ctx.Authority);
        w.WriteString("path", ctx.PathAndQuery);
        w.WriteString("protocol", request.Protocol);
        w.WriteNumber("response_code", ctx.StatusCode);
        w.WriteString("response_flags", ResponseFlagsFormatter.Format(ctx.Flags));
        WriteOrNull(w, "response_code_details", ctx.ResponseCodeDetails);
        WriteOrNull(w, "upstream_transport_failure_reason", ctx.UpstreamTransportFailureReason);
        w.WriteNumber("bytes_received", ctx.BytesReceived);
        w.WriteNumber("bytes_sent", ctx.BytesSent);
        w.WriteNumber("duration", (long)ctx.DurationMilliseconds);
        if (ctx.FirstByteTimestamp != 0 && ctx.UpstreamStartTimestamp != 0)
        {
            w.WriteNumber("upstream_service_time", (long)ctx.Time.GetElapsedTime(ctx.UpstreamStartTimestamp, ctx.FirstByteTimestamp).TotalMilliseconds);
        }
        else
        {
            w.WriteNull("upstream_service_time");
        }

        WriteOrNull(w, "x_forwarded_for", headers["x-forwarded-for"].ToString());
        WriteOrNull(w, "user_agent", headers.UserAgent.ToString());
        WriteOrNull(w, "request_id", ctx.RequestId ?? headers["x-request-id"].ToString());
        WriteOrNull(w, "trace_id", t.Span.IsActive ? t.Span.TraceIdHex : null);
        WriteOrNull(w, "upstream_host", ctx.Endpoint?.Address);
        WriteOrNull(w, "upstream_cluster", ctx.Cluster?.Name);
        WriteOrNull(w, "downstream_local_address", ctx.Connection.OriginalDestination?.ToString() ?? ctx.Connection.LocalEndPoint?.ToString());
        WriteOrNull(w, "downstream_remote_address", ctx.Connection.RemoteEndPoint?.ToString());
        WriteOrNull(w, "requested_server_name", ctx.Connection.ServerName);
        WriteOrNull(w, "route_name", ctx.Route?.Name);
        w.WriteString("reporter", ctx.Connection.Role == ListenerRole.Inbound ? "destination" : "source");
        if (t.Resolved)
        {
            w.WriteString("source_workload", t.Source.Workload);
            w.WriteString("source_namespace", t.Source.Namespace);
            w.WriteString("source_principal", t.Source.Principal);
            w.WriteString("destination_workload", t.Destination.Workload);
            w.WriteString("destination_namespace", t.Destination.Namespace);
            w.WriteString("destination_service", t.Service.Host);
            if (t.GrpcStatus >= 0)
            {
                w.WriteNumber("grpc_status", t.GrpcStatus);
            }
            else
            {
                w.WriteNull("grpc_status");
            }
        }

        w.WriteEndObject();
    }

    private static void WriteOrNull(Utf8JsonWriter w, string name, string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }
}
