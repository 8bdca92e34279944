using System.Globalization;

namespace Skein.ControlPlane.Telemetry;

/// <summary>One line of the Prometheus text format: the series (name and labels as written) and its value.</summary>
internal readonly ref struct PrometheusLine
{
    public PrometheusLine(ReadOnlySpan<char> series, ReadOnlySpan<char> name, ReadOnlySpan<char> labels, double value)
    {
        Series = series;
        Name = name;
        Labels = labels;
        Value = value;
    }

    /// <summary><c>name{a="b",...}</c> exactly as written: the identity of the series within one target.</summary>
    public ReadOnlySpan<char> Series { get; }

    public ReadOnlySpan<char> Name { get; }

    /// <summary>The text between the braces (empty without labels).</summary>
    public ReadOnlySpan<char> Labels { get; }

    public double Value { get; }
}

/// <summary>
/// The Prometheus text exposition format (version 0.0.4), read line by line over spans: comments and
/// blank lines are skipped, a line's series is found by scanning its quoted label values (escapes
/// <c>\\</c>, <c>\"</c>, <c>\n</c>), and labels are decoded only when a caller asks for them, so a scrape
/// of series already seen allocates nothing per line.
/// </summary>
internal static class PrometheusText
{
    public delegate void LineHandler(in PrometheusLine line);

    /// <summary>Calls <paramref name="handler"/> for each sample line whose name starts with <paramref name="prefix"/>; returns the lines skipped as malformed.</summary>
    public static int Parse(ReadOnlySpan<char> text, string prefix, LineHandler handler)
    {
        var malformed = 0;
        while (text.Length > 0)
        {
            var end = text.IndexOf('\n');
            var line = end < 0 ? text : text[..end];
            text = end < 0 ? [] : text[(end + 1)..];
            line = line.TrimEnd('\r').TrimStart(' ');
            if (line.Length == 0 || line[0] == '#' || !line.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            if (!TryParseLine(line, out var series, out var name, out var labels, out var value))
            {
                malformed++;
                continue;
            }

            handler(new PrometheusLine(series, name, labels, value));
        }

        return malformed;
    }

    private static bool TryParseLine(ReadOnlySpan<char> line, out ReadOnlySpan<char> series, out ReadOnlySpan<char> name, out ReadOnlySpan<char> labels, out double value)
    {
        series = name = labels = default;
        value = 0;
        var i = 0;
        while (i < line.Length && line[i] != '{' && line[i] != ' ' && line[i] != '\t')
        {
            i++;
        }

        name = line[..i];
        if (name.Length == 0)
        {
            return false;
        }

        if (i < line.Length && line[i] == '{')
        {
            var close = LabelsEnd(line, i + 1);
            if (close < 0)
            {
                return false;
            }

            labels = line[(i + 1)..close];
            i = close + 1;
        }

        series = line[..i];
        var rest = line[i..].TrimStart(" \t");
        var space = rest.IndexOfAny(' ', '\t');
        var number = space < 0 ? rest : rest[..space]; // an optional timestamp follows
        return TryParseValue(number, out value);
    }

    /// <summary>The index of the closing brace, skipping braces inside quoted values.</summary>
    private static int LabelsEnd(ReadOnlySpan<char> line, int start)
    {
        var quoted = false;
        for (var i = start; i < line.Length; i++)
        {
            var c = line[i];
            if (quoted)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == '}')
            {
                return i;
            }
        }

        return -1;
    }

    public static bool TryParseValue(ReadOnlySpan<char> text, out double value)
    {
        switch (text)
        {
            case "+Inf" or "Inf":
                value = double.PositiveInfinity;
                return true;
            case "-Inf":
                value = double.NegativeInfinity;
                return true;
            case "NaN":
                value = double.NaN;
                return true;
            default:
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }
    }

    /// <summary>Decodes <c>a="b",c="d"</c> into pairs; false when the text is not well formed.</summary>
    public static bool TryParseLabels(ReadOnlySpan<char> labels, List<KeyValuePair<string, string>> into)
    {
        var i = 0;
        while (i < labels.Length)
        {
            while (i < labels.Length && (labels[i] == ',' || labels[i] == ' '))
            {
                i++;
            }

            if (i >= labels.Length)
            {
                break;
            }

            var eq = labels[i..].IndexOf('=');
            if (eq <= 0)
            {
                return false;
            }

            var key = labels.Slice(i, eq).Trim().ToString();
            i += eq + 1;
            if (i >= labels.Length || labels[i] != '"')
            {
                return false;
            }

            i++;
            var sb = new System.Text.StringBuilder();
            var closed = false;
            for (; i < labels.Length; i++)
            {
                var c = labels[i];
                if (c == '\\' && i + 1 < labels.Length)
                {
                    var next = labels[++i];
                    sb.Append(next == 'n' ? '\n' : next);
                }
                else if (c == '"')
                {
                    closed = true;
                    i++;
                    break;
                }
                else
                {
                    sb.Append(c);
                }
            }

            if (!closed)
            {
                return false;
            }

            into.Add(new(key, sb.ToString()));
        }

        return true;
    }
}
