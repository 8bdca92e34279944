using System.Buffers;
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

    public void OnRequestCompleted(ProxyContext ctx)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            Write(w, ctx);
        }

        buffer.Write("\n"u8);
        _lines.Writer.TryWrite(buffer.WrittenSpan.ToArray());
    }

    /// <summary>Writes the access log record of <paramref name="ctx"/> (Istio's JSON field names).</summary>
    public static void Write(Utf8JsonWriter w, ProxyContext ctx)
    {
        var request = ctx.Http.Request;
        var headers = request.Headers;
        w.WriteStartObject();
        w.WriteString("start_time", ctx.StartTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
        w.WriteString("method", request.Method);
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
        w.WriteString("authority", ctx.Authority);
        WriteOrNull(w, "upstream_host", ctx.Endpoint?.Address);
        WriteOrNull(w, "upstream_cluster", ctx.Cluster?.Name);
        WriteOrNull(w, "downstream_local_address", ctx.Connection.OriginalDestination?.ToString() ?? ctx.Connection.LocalEndPoint?.ToString());
        WriteOrNull(w, "downstream_remote_address", ctx.Connection.RemoteEndPoint?.ToString());
        WriteOrNull(w, "requested_server_name", ctx.Connection.ServerName);
        WriteOrNull(w, "route_name", ctx.Route?.Name);
        w.WriteEndObject();
    }

    public async ValueTask DisposeAsync()
    {
        _lines.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
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
