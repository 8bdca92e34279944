using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;

namespace Skein.ControlPlane.Tracing;

/// <summary>
/// Decodes OTLP/JSON (<c>ExportTraceServiceRequest</c> in protobuf's JSON mapping with OTLP's rules): ids as hex,
/// 64-bit numbers as strings or numbers, enums as numbers or names, lowerCamelCase keys (the original snake_case
/// names are accepted too, as protobuf JSON parsers do). Unknown fields are ignored.
/// </summary>
internal static class OtlpJson
{
    private static readonly JsonElement EmptyArray = JsonDocument.Parse("[]").RootElement.Clone();

    public static OtlpBatch Read(ReadOnlyMemory<byte> body)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            return OtlpBatch.Failed($"invalid JSON: {e.Message}");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return OtlpBatch.Failed("the body must be a JSON object (ExportTraceServiceRequest)");
            }

            var spans = new List<SpanRecord>();
            var rejected = 0;
            try
            {
                foreach (var resourceSpans in Array(doc.RootElement, "resourceSpans", "resource_spans"))
                {
                    var service = "unknown";
                    if (Get(resourceSpans, "resource") is { ValueKind: JsonValueKind.Object } resource)
                    {
                        foreach (var kv in Array(resource, "attributes"))
                        {
                            if (Text(Get(kv, "key")) == "service.name")
                            {
                                service = Value(Get(kv, "value"));
                            }
                        }
                    }

                    foreach (var scope in Array(resourceSpans, "scopeSpans", "scope_spans", "instrumentationLibrarySpans"))
                    {
                        foreach (var span in Array(scope, "spans"))
                        {
                            if (ReadSpan(span, service) is { } record)
                            {
                                spans.Add(record);
                            }
                            else
                            {
                                rejected++;
                            }
                        }
                    }
                }
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException)
            {
                return OtlpBatch.Failed($"invalid OTLP/JSON: {e.Message}");
            }

            return new OtlpBatch(spans, rejected, null);
        }
    }

    private static SpanRecord? ReadSpan(JsonElement span, string service)
    {
        if (span.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var traceId = HexId.FromText(Text(Get(span, "traceId", "trace_id")), 16);
        var spanId = HexId.FromText(Text(Get(span, "spanId", "span_id")), 8);
        if (traceId.Length == 0 || spanId.Length == 0)
        {
            return null;
        }

        var attributes = ImmutableArray.CreateBuilder<KeyValuePair<string, string>>();
        foreach (var kv in Array(span, "attributes"))
        {
            if (Text(Get(kv, "key")) is { Length: > 0 } key)
            {
                attributes.Add(new(key, Value(Get(kv, "value"))));
            }
        }

        var status = Get(span, "status");
        return new SpanRecord
        {
            TraceId = traceId,
            SpanId = spanId,
            ParentSpanId = HexId.FromText(Text(Get(span, "parentSpanId", "parent_span_id")), 8),
            Name = Text(Get(span, "name")) ?? "",
            Kind = Kind(Get(span, "kind")),
            StartUnixNano = Int64(Get(span, "startTimeUnixNano", "start_time_unix_nano")),
            EndUnixNano = Int64(Get(span, "endTimeUnixNano", "end_time_unix_nano")),
            Service = service,
            Attributes = attributes.ToImmutable(),
            StatusCode = status is { ValueKind: JsonValueKind.Object } s ? StatusCode(Get(s, "code")) : 0,
            StatusMessage = status is { ValueKind: JsonValueKind.Object } m ? Text(Get(m, "message")) ?? "" : "",
        };
    }

    private static SpanKind Kind(JsonElement? e) => e switch
    {
        { ValueKind: JsonValueKind.Number } n when n.TryGetInt32(out var k) && Enum.IsDefined((SpanKind)k) => (SpanKind)k,
        { ValueKind: JsonValueKind.String } s => s.GetString() switch
        {
            "SPAN_KIND_INTERNAL" => SpanKind.Internal,
            "SPAN_KIND_SERVER" => SpanKind.Server,
            "SPAN_KIND_CLIENT" => SpanKind.Client,
            "SPAN_KIND_PRODUCER" => SpanKind.Producer,
            "SPAN_KIND_CONSUMER" => SpanKind.Consumer,
            _ => SpanKind.Unspecified,
        },
        _ => SpanKind.Unspecified,
    };

    private static int StatusCode(JsonElement? e) => e switch
    {
        { ValueKind: JsonValueKind.Number } n when n.TryGetInt32(out var c) => c,
        { ValueKind: JsonValueKind.String } s => s.GetString() switch
        {
            "STATUS_CODE_OK" => 1,
            "STATUS_CODE_ERROR" => 2,
            _ => 0,
        },
        _ => 0,
    };

    private static long Int64(JsonElement? e) => e switch
    {
        { ValueKind: JsonValueKind.Number } n => n.TryGetInt64(out var v) ? v : (long)n.GetDouble(),
        { ValueKind: JsonValueKind.String } s => long.TryParse(s.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
            : ulong.TryParse(s.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var u) ? (long)Math.Min(u, long.MaxValue) : 0,
        _ => 0,
    };

    /// <summary>An AnyValue as text.</summary>
    private static string Value(JsonElement? e)
    {
        if (e is not { ValueKind: JsonValueKind.Object } v)
        {
            return "";
        }

        foreach (var p in v.EnumerateObject())
        {
            switch (p.Name)
            {
                case "stringValue" or "string_value":
                    return p.Value.GetString() ?? "";
                case "boolValue" or "bool_value":
                    return p.Value.ValueKind == JsonValueKind.True ? "true" : "false";
                case "intValue" or "int_value":
                    return Int64(p.Value).ToString(CultureInfo.InvariantCulture);
                case "doubleValue" or "double_value":
                    return p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetDouble().ToString(CultureInfo.InvariantCulture) : p.Value.GetString() ?? "";
                case "bytesValue" or "bytes_value":
                    return p.Value.GetString() ?? "";
                case "arrayValue" or "array_value":
                    return "[" + string.Join(", ", Array(p.Value, "values").Select(x => Value(x))) + "]";
                case "kvlistValue" or "kvlist_value":
                    return "{" + string.Join(", ", Array(p.Value, "values").Select(x => $"{Text(Get(x, "key"))}={Value(Get(x, "value"))}")) + "}";
                default:
                    break;
            }
        }

        return "";
    }

    private static JsonElement? Get(JsonElement e, string name, string? alternative = null)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (e.TryGetProperty(name, out var v))
        {
            return v;
        }

        return alternative is not null && e.TryGetProperty(alternative, out v) ? v : null;
    }

    private static string? Text(JsonElement? e) => e is { ValueKind: JsonValueKind.String } s ? s.GetString() : null;

    private static JsonElement.ArrayEnumerator Array(JsonElement? e, string name, string? alternative = null, string? legacy = null)
    {
        var found = e is { } element ? Get(element, name, alternative) ?? (legacy is null ? null : Get(element, legacy)) : null;
        return (found is { ValueKind: JsonValueKind.Array } a ? a : EmptyArray).EnumerateArray();
    }
}
