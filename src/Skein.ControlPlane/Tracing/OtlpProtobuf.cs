using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Skein.ControlPlane.Tracing;

/// <summary>
/// Decodes <c>opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest</c> from the protobuf wire format
/// by field number (opentelemetry-proto's trace.proto, common.proto, resource.proto), reading only what the
/// receiver keeps and skipping everything else, so newer fields never break it. A hand-written reader over a
/// span: no generated code, no copies of nested messages.
/// </summary>
internal static class OtlpProtobuf
{
    public static OtlpBatch Read(ReadOnlySpan<byte> body)
    {
        var spans = new List<SpanRecord>();
        var rejected = 0;
        try
        {
            var request = new ProtoReader(body);
            while (request.Next(out var field, out var wire))
            {
                if (field == 1 && wire == ProtoReader.LengthDelimited)
                {
                    ReadResourceSpans(request.Bytes(), spans, ref rejected);
                }
                else
                {
                    request.Skip(wire);
                }
            }
        }
        catch (FormatException e)
        {
            return OtlpBatch.Failed($"invalid protobuf ExportTraceServiceRequest: {e.Message}");
        }

        return new OtlpBatch(spans, rejected, null);
    }

    private static void ReadResourceSpans(ReadOnlySpan<byte> data, List<SpanRecord> spans, ref int rejected)
    {
        var service = "unknown";
        var r = new ProtoReader(data);
        while (r.Next(out var field, out var wire))
        {
            // resource = 1 (Resource { attributes = 1 }); scope_spans = 2 (and the deprecated instrumentation_library_spans = 1000).
            if (field == 1 && wire == ProtoReader.LengthDelimited)
            {
                var resource = new ProtoReader(r.Bytes());
                while (resource.Next(out var f, out var w))
                {
                    if (f == 1 && w == ProtoReader.LengthDelimited && ReadKeyValue(resource.Bytes()) is { Key: "service.name" } kv)
                    {
                        service = kv.Value;
                    }
                    else if (!(f == 1 && w == ProtoReader.LengthDelimited))
                    {
                        resource.Skip(w);
                    }
                }
            }
            else
            {
                r.Skip(wire);
            }
        }

        r = new ProtoReader(data);
        while (r.Next(out var field, out var wire))
        {
            if ((field == 2 || field == 1000) && wire == ProtoReader.LengthDelimited)
            {
                var scope = new ProtoReader(r.Bytes());
                while (scope.Next(out var f, out var w))
                {
                    if (f == 2 && w == ProtoReader.LengthDelimited)
                    {
                        if (ReadSpan(scope.Bytes(), service) is { } span)
                        {
                            spans.Add(span);
                        }
                        else
                        {
                            rejected++;
                        }
                    }
                    else
                    {
                        scope.Skip(w);
                    }
                }
            }
            else
            {
                r.Skip(wire);
            }
        }
    }

    private static SpanRecord? ReadSpan(ReadOnlySpan<byte> data, string service)
    {
        string traceId = "", spanId = "", parent = "", name = "", statusMessage = "";
        long start = 0, end = 0;
        var kind = 0;
        var statusCode = 0;
        var attributes = ImmutableArray.CreateBuilder<KeyValuePair<string, string>>();
        var r = new ProtoReader(data);
        while (r.Next(out var field, out var wire))
        {
            switch (field, wire)
            {
                case (1, ProtoReader.LengthDelimited): traceId = HexId.From(r.Bytes()); break;
                case (2, ProtoReader.LengthDelimited): spanId = HexId.From(r.Bytes()); break;
                case (4, ProtoReader.LengthDelimited): parent = HexId.From(r.Bytes()); break;
                case (5, ProtoReader.LengthDelimited): name = Encoding.UTF8.GetString(r.Bytes()); break;
                case (6, ProtoReader.VarintType): kind = (int)r.Varint(); break;
                case (7, ProtoReader.Fixed64Type): start = (long)r.Fixed64(); break;
                case (8, ProtoReader.Fixed64Type): end = (long)r.Fixed64(); break;
                case (9, ProtoReader.LengthDelimited):
                    if (ReadKeyValue(r.Bytes()) is { } kv)
                    {
                        attributes.Add(kv);
                    }

                    break;
                case (15, ProtoReader.LengthDelimited):
                    var status = new ProtoReader(r.Bytes());
                    while (status.Next(out var f, out var w))
                    {
                        if (f == 2 && w == ProtoReader.LengthDelimited)
                        {
                            statusMessage = Encoding.UTF8.GetString(status.Bytes());
                        }
                        else if (f == 3 && w == ProtoReader.VarintType)
                        {
                            statusCode = (int)status.Varint();
                        }
                        else
                        {
                            status.Skip(w);
                        }
                    }

                    break;
                default:
                    r.Skip(wire);
                    break;
            }
        }

        if (traceId.Length != 32 || spanId.Length != 16)
        {
            return null;
        }

        return new SpanRecord
        {
            TraceId = traceId,
            SpanId = spanId,
            ParentSpanId = parent,
            Name = name,
            Kind = Enum.IsDefined((SpanKind)kind) ? (SpanKind)kind : SpanKind.Unspecified,
            StartUnixNano = start,
            EndUnixNano = end,
            Service = service,
            Attributes = attributes.ToImmutable(),
            StatusCode = statusCode,
            StatusMessage = statusMessage,
        };
    }

    /// <summary>KeyValue { key = 1; AnyValue value = 2 }.</summary>
    private static KeyValuePair<string, string>? ReadKeyValue(ReadOnlySpan<byte> data)
    {
        string? key = null;
        var value = "";
        var r = new ProtoReader(data);
        while (r.Next(out var field, out var wire))
        {
            if (field == 1 && wire == ProtoReader.LengthDelimited)
            {
                key = Encoding.UTF8.GetString(r.Bytes());
            }
            else if (field == 2 && wire == ProtoReader.LengthDelimited)
            {
                value = ReadAnyValue(r.Bytes());
            }
            else
            {
                r.Skip(wire);
            }
        }

        return key is null ? null : new(key, value);
    }

    /// <summary>AnyValue { string = 1, bool = 2, int = 3, double = 4, array = 5, kvlist = 6, bytes = 7 } as text.</summary>
    private static string ReadAnyValue(ReadOnlySpan<byte> data)
    {
        var r = new ProtoReader(data);
        var text = "";
        while (r.Next(out var field, out var wire))
        {
            switch (field, wire)
            {
                case (1, ProtoReader.LengthDelimited): text = Encoding.UTF8.GetString(r.Bytes()); break;
                case (2, ProtoReader.VarintType): text = r.Varint() != 0 ? "true" : "false"; break;
                case (3, ProtoReader.VarintType): text = ((long)r.Varint()).ToString(CultureInfo.InvariantCulture); break;
                case (4, ProtoReader.Fixed64Type): text = BitConverter.Int64BitsToDouble((long)r.Fixed64()).ToString(CultureInfo.InvariantCulture); break;
                case (5, ProtoReader.LengthDelimited):
                    var items = new List<string>();
                    var array = new ProtoReader(r.Bytes());
                    while (array.Next(out var f, out var w))
                    {
                        if (f == 1 && w == ProtoReader.LengthDelimited)
                        {
                            items.Add(ReadAnyValue(array.Bytes()));
                        }
                        else
                        {
                            array.Skip(w);
                        }
                    }

                    text = "[" + string.Join(", ", items) + "]";
                    break;
                case (6, ProtoReader.LengthDelimited):
                    var pairs = new List<string>();
                    var list = new ProtoReader(r.Bytes());
                    while (list.Next(out var f, out var w))
                    {
                        if (f == 1 && w == ProtoReader.LengthDelimited && ReadKeyValue(list.Bytes()) is { } kv)
                        {
                            pairs.Add($"{kv.Key}={kv.Value}");
                        }
                        else if (!(f == 1 && w == ProtoReader.LengthDelimited))
                        {
                            list.Skip(w);
                        }
                    }

                    text = "{" + string.Join(", ", pairs) + "}";
                    break;
                case (7, ProtoReader.LengthDelimited): text = Convert.ToBase64String(r.Bytes()); break;
                default: r.Skip(wire); break;
            }
        }

        return text;
    }
}

/// <summary>The protobuf wire format over a span: tags, varints, fixed values, length-delimited fields.</summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> data)
{
    public const int VarintType = 0;
    public const int Fixed64Type = 1;
    public const int LengthDelimited = 2;
    public const int Fixed32Type = 5;

    private ReadOnlySpan<byte> _data = data;

    public bool Next(out int field, out int wire)
    {
        if (_data.IsEmpty)
        {
            field = wire = 0;
            return false;
        }

        var tag = ReadVarint();
        field = (int)(tag >> 3);
        wire = (int)(tag & 7);
        if (field <= 0)
        {
            throw new FormatException("field number 0");
        }

        return true;
    }

    public ulong Varint() => ReadVarint();

    public ulong Fixed64()
    {
        Need(8);
        var v = BinaryPrimitives.ReadUInt64LittleEndian(_data);
        _data = _data[8..];
        return v;
    }

    public ReadOnlySpan<byte> Bytes()
    {
        var length = ReadVarint();
        if (length > (ulong)_data.Length)
        {
            throw new FormatException("length beyond the end of the message");
        }

        var bytes = _data[..(int)length];
        _data = _data[(int)length..];
        return bytes;
    }

    public void Skip(int wire)
    {
        switch (wire)
        {
            case VarintType: ReadVarint(); break;
            case Fixed64Type: Need(8); _data = _data[8..]; break;
            case LengthDelimited: Bytes(); break;
            case Fixed32Type: Need(4); _data = _data[4..]; break;
            default: throw new FormatException($"unsupported wire type {wire}");
        }
    }

    private ulong ReadVarint()
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            Need(1);
            var b = _data[0];
            _data = _data[1..];
            result |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
            {
                return result;
            }
        }

        throw new FormatException("varint longer than 10 bytes");
    }

    private readonly void Need(int bytes)
    {
        if (_data.Length < bytes)
        {
            throw new FormatException("truncated message");
        }
    }
}
