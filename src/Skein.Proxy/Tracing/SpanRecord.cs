namespace Skein.Proxy.Tracing;

/// <summary>
/// One finished span, captured when a sampled request completes (only sampled requests allocate one). Attribute
/// names follow what Envoy's tracer and Istio put on proxy spans.
/// </summary>
internal sealed class SpanRecord
{
    public required SpanIds Ids { get; init; }

    public string? TraceState { get; init; }

    /// <summary>Istio's operation name: <c>{service host}:{port}/*</c>.</summary>
    public required string Name { get; init; }

    /// <summary>SERVER for the inbound (server-side) proxy, CLIENT for the outbound one.</summary>
    public required bool IsServer { get; init; }

    public required long StartUnixNano { get; init; }

    public required long EndUnixNano { get; init; }

    /// <summary>Attributes in order; values are strings, as Envoy tags them.</summary>
    public required KeyValuePair<string, string>[] Attributes { get; init; }

    /// <summary>True for a 5xx, a gRPC error or no response: the span's status is ERROR.</summary>
    public required bool IsError { get; init; }
}
