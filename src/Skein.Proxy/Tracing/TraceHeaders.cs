using System.Globalization;

namespace Skein.Proxy.Tracing;

/// <summary>
/// The trace context of one hop's span: trace id (128 bits), this span's id, its parent's id (0 for a root) and
/// the sampling decision. A plain struct kept in the request's context, so an unsampled request allocates only the
/// header strings it forwards.
/// </summary>
internal struct SpanIds
{
    public ulong TraceIdHigh;
    public ulong TraceIdLow;
    public ulong SpanId;
    public ulong ParentSpanId;
    public bool Sampled;

    /// <summary>True once the tracer has started a span for the request.</summary>
    public readonly bool IsActive => SpanId != 0;

    public readonly string TraceIdHex => TraceHeaders.Hex(TraceIdHigh, TraceIdLow);

    public readonly string SpanIdHex => TraceHeaders.Hex(SpanId);
}

/// <summary>What the incoming request said about its trace.</summary>
internal readonly record struct IncomingContext(ulong TraceIdHigh, ulong TraceIdLow, ulong ParentSpanId, bool? Sampled, bool ShortTraceId)
{
    public bool HasTrace => (TraceIdHigh | TraceIdLow) != 0;
}

/// <summary>
/// Reads and writes W3C Trace Context (<c>traceparent</c>) and B3 (the <c>x-b3-*</c> headers and the single
/// <c>b3</c> header). Parsing is strict (malformed input is ignored, as the specs ask) and allocation-free.
/// </summary>
internal static class TraceHeaders
{
    public const string Traceparent = "traceparent";
    public const string Tracestate = "tracestate";
    public const string B3TraceId = "x-b3-traceid";
    public const string B3SpanId = "x-b3-spanid";
    public const string B3ParentSpanId = "x-b3-parentspanid";
    public const string B3Sampled = "x-b3-sampled";
    public const string B3Flags = "x-b3-flags";
    public const string B3Single = "b3";

    /// <summary><c>00-{32 hex trace id}-{16 hex parent id}-{2 hex flags}</c>; later versions may append fields.</summary>
    public static bool TryParseTraceparent(ReadOnlySpan<char> v, out IncomingContext context)
    {
        context = default;
        v = v.Trim();
        if (v.Length < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' || !TryHex(v[..2], out var version) || version == 0xff)
        {
            return false;
        }

        if ((version == 0 && v.Length != 55) || (v.Length > 55 && v[55] != '-'))
        {
            return false;
        }

        if (!TryHex(v.Slice(3, 16), out var high) || !TryHex(v.Slice(19, 16), out var low) || !TryHex(v.Slice(36, 16), out var parent)
            || !TryHex(v.Slice(53, 2), out var flags) || (high | low) == 0 || parent == 0)
        {
            return false;
        }

        context = new IncomingContext(high, low, parent, (flags & 1) == 1, false);
        return true;
    }

    /// <summary>B3 multi-header: trace id of 16 or 32 hex digits, span id of 16; <c>x-b3-sampled</c> 1/0/true/false; <c>x-b3-flags: 1</c> is debug (sampled).</summary>
    public static bool TryParseB3(ReadOnlySpan<char> traceId, ReadOnlySpan<char> spanId, ReadOnlySpan<char> sampled, ReadOnlySpan<char> flags, out IncomingContext context)
    {
        context = default;
        bool? decision = flags.Trim() is "1" ? true : SampledValue(sampled);
        if (traceId.IsEmpty)
        {
            if (decision is not null)
            {
                context = new IncomingContext(0, 0, 0, decision, false); // a decision without ids
                return true;
            }

            return false;
        }

        if (!TryTraceId(traceId.Trim(), out var high, out var low, out var isShort) || !TryHex(spanId.Trim(), out var span) || spanId.Trim().Length != 16 || span == 0)
        {
            return false;
        }

        context = new IncomingContext(high, low, span, decision, isShort);
        return true;
    }

    /// <summary>Single header <c>b3: {traceid}-{spanid}[-{sampling}[-{parentspanid}]]</c>, or just a sampling state (0, 1, d).</summary>
    public static bool TryParseB3Single(ReadOnlySpan<char> v, out IncomingContext context)
    {
        context = default;
        v = v.Trim();
        if (v.Length == 1)
        {
            var d = v[0] switch { '0' => false, '1' or 'd' => true, _ => (bool?)null };
            context = new IncomingContext(0, 0, 0, d, false);
            return d is not null;
        }

        var dash = v.IndexOf('-');
        if (dash <= 0)
        {
            return false;
        }

        var traceId = v[..dash];
        var rest = v[(dash + 1)..];
        dash = rest.IndexOf('-');
        var spanId = dash < 0 ? rest : rest[..dash];
        bool? sampled = null;
        if (dash >= 0)
        {
            var state = rest[(dash + 1)..];
            var next = state.IndexOf('-');
            state = next < 0 ? state : state[..next];
            sampled = state switch { "0" => false, "1" or "d" => true, _ => null };
            if (sampled is null)
            {
                return false;
            }
        }

        if (!TryTraceId(traceId, out var high, out var low, out var isShort) || spanId.Length != 16 || !TryHex(spanId, out var span) || span == 0)
        {
            return false;
        }

        context = new IncomingContext(high, low, span, sampled, isShort);
        return true;
    }

    /// <summary><c>00-{trace}-{span}-{01|00}</c>.</summary>
    public static string FormatTraceparent(in SpanIds s) =>
        string.Create(55, s, static (dst, s) =>
        {
            "00-".CopyTo(dst);
            WriteHex(dst.Slice(3, 16), s.TraceIdHigh);
            WriteHex(dst.Slice(19, 16), s.TraceIdLow);
            dst[35] = '-';
            WriteHex(dst.Slice(36, 16), s.SpanId);
            (s.Sampled ? "-01" : "-00").CopyTo(dst[52..]);
        });

    /// <summary><c>{trace}-{span}-{1|0}[-{parent}]</c>.</summary>
    public static string FormatB3Single(in SpanIds s, bool shortTraceId)
    {
        var traceLength = shortTraceId ? 16 : 32;
        var length = traceLength + 1 + 16 + 2 + (s.ParentSpanId != 0 ? 17 : 0);
        return string.Create(length, (s, traceLength), static (dst, state) =>
        {
            var (s, traceLength) = state;
            if (traceLength == 32)
            {
                WriteHex(dst[..16], s.TraceIdHigh);
            }

            WriteHex(dst.Slice(traceLength - 16, 16), s.TraceIdLow);
            dst[traceLength] = '-';
            WriteHex(dst.Slice(traceLength + 1, 16), s.SpanId);
            dst[traceLength + 17] = '-';
            dst[traceLength + 18] = s.Sampled ? '1' : '0';
            if (s.ParentSpanId != 0)
            {
                dst[traceLength + 19] = '-';
                WriteHex(dst.Slice(traceLength + 20, 16), s.ParentSpanId);
            }
        });
    }

    public static string Hex(ulong high, ulong low) =>
        string.Create(32, (high, low), static (dst, v) =>
        {
            WriteHex(dst[..16], v.high);
            WriteHex(dst[16..], v.low);
        });

    public static string Hex(ulong value) => string.Create(16, value, static (dst, v) => WriteHex(dst, v));

    public static string ShortOrLongTraceId(in SpanIds s, bool shortTraceId) => shortTraceId && s.TraceIdHigh == 0 ? Hex(s.TraceIdLow) : Hex(s.TraceIdHigh, s.TraceIdLow);

    /// <summary>A random non-zero id.</summary>
    public static ulong NewId()
    {
        ulong id;
        do
        {
            id = (ulong)Random.Shared.NextInt64() ^ ((ulong)Random.Shared.Next() << 63);
        }
        while (id == 0);

        return id;
    }

    private static bool? SampledValue(ReadOnlySpan<char> v)
    {
        v = v.Trim();
        if (v.Equals("1", StringComparison.Ordinal) || v.Equals("true", StringComparison.OrdinalIgnoreCase) || v.Equals("d", StringComparison.Ordinal))
        {
            return true;
        }

        return v.Equals("0", StringComparison.Ordinal) || v.Equals("false", StringComparison.OrdinalIgnoreCase) ? false : null;
    }

    private static bool TryTraceId(ReadOnlySpan<char> v, out ulong high, out ulong low, out bool isShort)
    {
        high = 0;
        low = 0;
        isShort = v.Length == 16;
        var ok = v.Length switch
        {
            16 => TryHex(v, out low),
            32 => TryHex(v[..16], out high) && TryHex(v[16..], out low),
            _ => false,
        };
        return ok && (high | low) != 0;
    }

    private static bool TryHex(ReadOnlySpan<char> v, out ulong value)
    {
        // Lower-case only in traceparent; B3 is case-insensitive in practice: accept both.
        value = 0;
        return v.Length is > 0 and <= 16 && ulong.TryParse(v, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    private static void WriteHex(Span<char> dst, ulong value)
    {
        for (var i = dst.Length - 1; i >= 0; i--)
        {
            dst[i] = "0123456789abcdef"[(int)(value & 0xF)];
            value >>= 4;
        }
    }
}
