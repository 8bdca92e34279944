using System.Globalization;

namespace Skein.Api.Model;

/// <summary>
/// A duration as Istio writes it ("1.5s", "100ms", "1h", "1m30s"). Keeps the user's text
/// so that config written back reads as it was written.
/// </summary>
public readonly record struct Duration(TimeSpan Value, string Text)
{
    public override string ToString() => Text;

    public static Duration FromTimeSpan(TimeSpan value) =>
        new(value, value.TotalMilliseconds % 1000 == 0
            ? ((long)value.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s"
            : value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture) + "ms");

    /// <summary>Parses Go/protobuf duration syntax: a sequence of decimal numbers with units h, m, s, ms, us, µs, ns.</summary>
    public static bool TryParse(string text, out Duration duration)
    {
        duration = default;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        var span = text.AsSpan();
        var negative = span[0] == '-';
        if (negative || span[0] == '+')
        {
            span = span[1..];
        }

        if (span.SequenceEqual("0"))
        {
            duration = new Duration(TimeSpan.Zero, text);
            return true;
        }

        double totalTicks = 0;
        var any = false;
        while (!span.IsEmpty)
        {
            var i = 0;
            while (i < span.Length && (char.IsAsciiDigit(span[i]) || span[i] == '.'))
            {
                i++;
            }

            if (i == 0 || !double.TryParse(span[..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            span = span[i..];
            var j = 0;
            while (j < span.Length && !char.IsAsciiDigit(span[j]) && span[j] != '.')
            {
                j++;
            }

            double unitTicks = span[..j] switch
            {
                "h" => TimeSpan.TicksPerHour,
                "m" => TimeSpan.TicksPerMinute,
                "s" => TimeSpan.TicksPerSecond,
                "ms" => TimeSpan.TicksPerMillisecond,
                "us" or "µs" => TimeSpan.TicksPerMicrosecond,
                "ns" => 0.01,
                _ => -1,
            };
            if (unitTicks < 0)
            {
                return false;
            }

            totalTicks += number * unitTicks;
            if (totalTicks > TimeSpan.MaxValue.Ticks)
            {
                return false;
            }

            span = span[j..];
            any = true;
        }

        if (!any)
        {
            return false;
        }

        var ticks = (long)Math.Round(totalTicks);
        duration = new Duration(TimeSpan.FromTicks(negative ? -ticks : ticks), text);
        return true;
    }
}

/// <summary>A Kubernetes IntOrString (targetPort: 8080 or targetPort: http).</summary>
public readonly record struct IntOrString(int? Number, string? Name)
{
    public override string ToString() => Number?.ToString(CultureInfo.InvariantCulture) ?? Name ?? "";
}
