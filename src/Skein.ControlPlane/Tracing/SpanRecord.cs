using System.Collections.Immutable;

namespace Skein.ControlPlane.Tracing;

/// <summary>OTLP's span kinds (the enum's numbers).</summary>
internal enum SpanKind
{
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

/// <summary>
/// A span as the receiver keeps it: ids as lowercase hex, times in Unix nanoseconds, the resource's
/// <c>service.name</c>, attributes flattened to text (OTLP's typed values rendered as their JSON would read).
/// </summary>
internal sealed record SpanRecord
{
    public required string TraceId { get; init; }

    public required string SpanId { get; init; }

    /// <summary>Empty for a root span.</summary>
    public string ParentSpanId { get; init; } = "";

    public string Name { get; init; } = "";

    public SpanKind Kind { get; init; }

    public long StartUnixNano { get; init; }

    public long EndUnixNano { get; init; }

    public string Service { get; init; } = "unknown";

    public ImmutableArray<KeyValuePair<string, string>> Attributes { get; init; } = [];

    /// <summary>0 unset, 1 ok, 2 error (OTLP's StatusCode).</summary>
    public int StatusCode { get; init; }

    public string StatusMessage { get; init; } = "";

    public double DurationMs => Math.Max(0, EndUnixNano - StartUnixNano) / 1e6;

    public string? Attribute(string key)
    {
        foreach (var (k, v) in Attributes)
        {
            if (k == key)
            {
                return v;
            }
        }

        return null;
    }

    /// <summary>An error: status ERROR, an HTTP 5xx, or a gRPC status other than OK (Istio's span attributes).</summary>
    public bool IsError =>
        StatusCode == 2
        || (int.TryParse(Attribute("http.status_code") ?? Attribute("http.response.status_code"), out var code) && code >= 500)
        || Attribute("grpc.status_code") is { } g && g != "0";
}

/// <summary>Spans decoded from one export request, or why the request could not be read.</summary>
internal sealed record OtlpBatch(IReadOnlyList<SpanRecord> Spans, int Rejected, string? Error)
{
    public static OtlpBatch Failed(string error) => new([], 0, error);
}

internal static class HexId
{
    /// <summary>Lowercase hex of an id; empty when the bytes are empty or all zero (OTLP's "invalid id").</summary>
    public static string From(ReadOnlySpan<byte> id) => id.IsEmpty || !id.ContainsAnyExcept((byte)0) ? "" : Convert.ToHexStringLower(id);

    /// <summary>Normalises a JSON id: hex as the OTLP/JSON spec writes it, or base64 as protobuf's JSON mapping would.</summary>
    public static string FromText(string? text, int bytes)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }

        if (text.Length == bytes * 2 && IsHex(text))
        {
            return text.All(c => c == '0') ? "" : text.ToLowerInvariant();
        }

        var buffer = new byte[bytes + 3];
        return Convert.TryFromBase64String(text, buffer, out var written) && written == bytes ? From(buffer.AsSpan(0, written)) : "";
    }

    public static bool IsHex(string text) => text.All(Uri.IsHexDigit);
}
