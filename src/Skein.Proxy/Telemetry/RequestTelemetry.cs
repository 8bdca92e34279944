using Skein.Proxy.Tracing;

namespace Skein.Proxy.Telemetry;

/// <summary>
/// The telemetry state of one request, held by value in its <see cref="Protocol.ProxyContext"/> (no allocation):
/// the peers learnt by metadata exchange, the trace context of this hop's span, and the labels resolved once at
/// completion for every observer (metrics, access log, tap, span).
/// </summary>
internal struct RequestTelemetry
{
    /// <summary>The process's telemetry, set at request start when any telemetry is on.</summary>
    public ProxyTelemetry? Hooks;

    /// <summary>Inbound: the client workload named by the request's <c>x-envoy-peer-metadata</c>.</summary>
    public WorkloadPeer? DownstreamPeer;

    /// <summary>Outbound: the server workload named by the response's <c>x-envoy-peer-metadata</c>.</summary>
    public WorkloadPeer? UpstreamPeer;

    /// <summary>Inbound: the request carried exchange headers, so the response carries ours.</summary>
    public bool ExchangeRequested;

    /// <summary>This hop's span (inactive when tracing is off).</summary>
    public SpanIds Span;

    // Resolved at completion (see ProxyTelemetry.Resolve).
    public bool Resolved;
    public WorkloadPeer Source;
    public WorkloadPeer Destination;
    public ServiceLabels Service;

    /// <summary>The gRPC status (trailers, trailers-only headers, else mapped from HTTP), or -1 for non-gRPC / no response.</summary>
    public int GrpcStatus;

    public SecurityPolicy Security;

    /// <summary>The access log / tap record, serialized once when first needed.</summary>
    public byte[]? LogLine;
}

/// <summary>Istio's <c>connection_security_policy</c> label.</summary>
internal enum SecurityPolicy : byte
{
    Unknown,
    None,
    MutualTls,
}
