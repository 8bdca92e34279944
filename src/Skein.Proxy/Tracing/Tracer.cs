using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;
using Skein.Proxy.Telemetry;

namespace Skein.Proxy.Tracing;

/// <summary>
/// One span per hop, as Envoy does in a sidecar: a SERVER span for each inbound request and a CLIENT span for each
/// outbound one. At the start of a request the tracer continues the incoming context (W3C <c>traceparent</c>, else
/// the single <c>b3</c> header, else the <c>x-b3-*</c> headers) or starts a trace, decides sampling (an incoming
/// decision is kept; otherwise the configured percentage, which the control plane may push per listener), and
/// rewrites the request's trace headers so that whoever is next (the app, or the next proxy) sees this span as
/// parent: <c>traceparent</c> and <c>x-b3-*</c> always, <c>b3</c> when the request used it; <c>tracestate</c>
/// passes unchanged. When the request completes, a sampled span is queued for export.
/// </summary>
internal sealed class Tracer(TelemetrySettings settings, LocalWorkload local, IRandomSource random, OtlpExporter? exporter)
{
    private static readonly StringValues One = "1";
    private static readonly StringValues Zero = "0";

    public OtlpExporter? Exporter => exporter;

    public void Start(ProxyContext ctx)
    {
        var headers = ctx.Http.Request.Headers;
        var incoming = Incoming(headers, out var usedB3Single);
        ref var span = ref ctx.Telemetry.Span;
        if (incoming.HasTrace)
        {
            span.TraceIdHigh = incoming.TraceIdHigh;
            span.TraceIdLow = incoming.TraceIdLow;
            span.ParentSpanId = incoming.ParentSpanId;
        }
        else
        {
            span.TraceIdHigh = TraceHeaders.NewId();
            span.TraceIdLow = TraceHeaders.NewId();
        }

        span.SpanId = TraceHeaders.NewId();
        span.Sampled = incoming.Sampled ?? Sample(ctx);
        // A trace id with a zero high half came from 64-bit B3 (maybe via an earlier hop's traceparent): keep B3 at 64 bits.
        var shortTraceId = span.TraceIdHigh == 0;

        headers[TraceHeaders.Traceparent] = TraceHeaders.FormatTraceparent(span);
        headers[TraceHeaders.B3TraceId] = TraceHeaders.ShortOrLongTraceId(span, shortTraceId);
        headers[TraceHeaders.B3SpanId] = TraceHeaders.Hex(span.SpanId);
        if (span.ParentSpanId != 0)
        {
            headers[TraceHeaders.B3ParentSpanId] = TraceHeaders.Hex(span.ParentSpanId);
        }
        else
        {
            headers.Remove(TraceHeaders.B3ParentSpanId);
        }

        headers[TraceHeaders.B3Sampled] = span.Sampled ? One : Zero;
        if (usedB3Single)
        {
            headers[TraceHeaders.B3Single] = TraceHeaders.FormatB3Single(span, shortTraceId);
        }
    }

    /// <summary>Queues the span of a sampled request. <paramref name="service"/> names the operation.</summary>
    public void Complete(ProxyContext ctx, ServiceLabels service, int grpcStatus)
    {
        var span = ctx.Telemetry.Span;
        if (!span.IsActive || !span.Sampled || exporter is null)
        {
            return;
        }

        var inbound = ctx.Connection.Role == ListenerRole.Inbound;
        var request = ctx.Http.Request;
        var port = AuthorityPort(ctx.Authority) ?? ctx.Connection.OriginalDestination?.Port ?? 80; // the service port the caller used
        var startNanos = (ctx.StartTime.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;
        var durationNanos = (long)(ctx.DurationMilliseconds * 1_000_000);
        var status = ctx.StatusCode;
        var error = status is 0 or >= 500 || grpcStatus > 0;
        var peer = local.Peer;
        var attributes = new List<KeyValuePair<string, string>>(24)
        {
            new("istio.canonical_service", peer.CanonicalService),
            new("istio.canonical_revision", peer.CanonicalRevision),
            new("istio.namespace", local.Namespace),
            new("istio.mesh_id", local.TrustDomain),
            new("node_id", local.NodeId),
            new("component", "proxy"),
            new("guid:x-request-id", ctx.RequestId ?? request.Headers["x-request-id"].ToString()),
            new("http.method", request.Method),
            new("http.url", $"{(ctx.Connection.TransportProtocol == "tls" ? "https" : "http")}://{ctx.Authority}{ctx.PathAndQuery}"),
            new("http.protocol", request.Protocol),
            new("http.status_code", Prometheus.Status(status)),
            new("response_flags", ResponseFlagsFormatter.Format(ctx.Flags)),
            new("request_size", ctx.BytesReceived.ToString(CultureInfo.InvariantCulture)),
            new("response_size", ctx.BytesSent.ToString(CultureInfo.InvariantCulture)),
            new("downstream_cluster", "-"),
            new("user_agent", request.Headers.UserAgent.ToString() is { Length: > 0 } ua ? ua : "-"),
            new("upstream_cluster", ctx.Cluster?.Name ?? "-"),
            new("upstream_cluster.name", service.Host),
        };
        if (ctx.Connection.RemoteEndPoint is { } remote)
        {
            attributes.Add(new("peer.address", remote.Address.ToString()));
        }

        if (ctx.Endpoint is { } endpoint)
        {
            attributes.Add(new("upstream_address", endpoint.Address));
        }

        if (grpcStatus >= 0)
        {
            attributes.Add(new("grpc.status_code", grpcStatus.ToString(CultureInfo.InvariantCulture)));
        }

        if (error)
        {
            attributes.Add(new("error", "true"));
        }

        exporter.Enqueue(new SpanRecord
        {
            Ids = span,
            TraceState = request.Headers[TraceHeaders.Tracestate].ToString(),
            Name = $"{service.Host}:{port.ToString(CultureInfo.InvariantCulture)}/*",
            IsServer = inbound,
            StartUnixNano = startNanos,
            EndUnixNano = startNanos + Math.Max(0, durationNanos),
            Attributes = [.. attributes],
            IsError = error,
        });
    }

    private bool Sample(ProxyContext ctx)
    {
        var percent = HcmSampling.For(ctx.Config, ctx.Manager) ?? settings.SamplingPercent;
        return percent >= 100 || (percent > 0 && random.NextDouble() * 100 < percent);
    }

    private static IncomingContext Incoming(IHeaderDictionary headers, out bool usedB3Single)
    {
        usedB3Single = headers.TryGetValue(TraceHeaders.B3Single, out var single);
        if (headers.TryGetValue(TraceHeaders.Traceparent, out var tp) && TraceHeaders.TryParseTraceparent(tp.ToString(), out var w3c))
        {
            return w3c;
        }

        if (usedB3Single && TraceHeaders.TryParseB3Single(single.ToString(), out var b3))
        {
            return b3;
        }

        if (headers.TryGetValue(TraceHeaders.B3TraceId, out var traceId) | headers.TryGetValue(TraceHeaders.B3Sampled, out var sampled)
            | headers.TryGetValue(TraceHeaders.B3Flags, out var flags))
        {
            headers.TryGetValue(TraceHeaders.B3SpanId, out var spanId);
            if (TraceHeaders.TryParseB3(traceId.ToString(), spanId.ToString(), sampled.ToString(), flags.ToString(), out var multi))
            {
                return multi;
            }
        }

        return default;
    }

    private static int? AuthorityPort(string authority)
    {
        var (_, port) = Routing.PathRewrites.SplitAuthority(authority);
        return port is not null && int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : null;
    }
}
