using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Skein.Proxy.Telemetry;

/// <summary>Something that writes its own metric families into the Prometheus text and <c>/stats</c> outputs.</summary>
internal interface IMetricsSource
{
    void WritePrometheus(StringBuilder sb);

    void WriteStats(StringBuilder sb);
}

/// <summary>
/// A histogram with fixed upper bounds (Prometheus <c>le</c>, inclusive), lock-free: one interlocked increment of
/// the bucket and one interlocked add of the sum per value. The count is the sum of the buckets, so a scrape always
/// sees a consistent histogram.
/// </summary>
internal sealed class FixedHistogram(double[] bounds, double sumScale)
{
    /// <summary>Envoy's (and so Istio's) default buckets, used for durations in ms and sizes in bytes alike.</summary>
    public static readonly double[] DefaultBounds = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

    private static readonly string[] DefaultLe = Array.ConvertAll(DefaultBounds, b => b.ToString(CultureInfo.InvariantCulture));

    private readonly long[] _counts = new long[bounds.Length + 1]; // the last one is +Inf
    private long _sum; // value × sumScale, so that an interlocked add works on integers

    public void Record(double value)
    {
        var i = 0;
        while (i < bounds.Length && value > bounds[i])
        {
            i++;
        }

        Interlocked.Increment(ref _counts[i]);
        Interlocked.Add(ref _sum, (long)(value * sumScale));
    }

    /// <summary>Writes <c>_bucket</c>, <c>_sum</c> and <c>_count</c> lines for one series (<paramref name="labels"/> without braces).</summary>
    public void Write(StringBuilder sb, string name, string labels)
    {
        Span<long> counts = stackalloc long[_counts.Length];
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] = Volatile.Read(ref _counts[i]);
        }

        long cumulative = 0;
        for (var i = 0; i < bounds.Length; i++)
        {
            cumulative += counts[i];
            sb.Append(name).Append("_bucket{").Append(labels).Append(labels.Length > 0 ? ",le=\"" : "le=\"")
                .Append(ReferenceEquals(bounds, DefaultBounds) ? DefaultLe[i] : bounds[i].ToString(CultureInfo.InvariantCulture))
                .Append("\"} ").Append(cumulative).Append('\n');
        }

        cumulative += counts[^1];
        sb.Append(name).Append("_bucket{").Append(labels).Append(labels.Length > 0 ? ",le=\"+Inf\"} " : "le=\"+Inf\"} ").Append(cumulative).Append('\n');
        sb.Append(name).Append("_sum").Append(Prometheus.Braces(labels)).Append(' ')
            .Append((Volatile.Read(ref _sum) / sumScale).ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        sb.Append(name).Append("_count").Append(Prometheus.Braces(labels)).Append(' ').Append(cumulative).Append('\n');
    }

    public long Count
    {
        get
        {
            long n = 0;
            for (var i = 0; i < _counts.Length; i++)
            {
                n += Volatile.Read(ref _counts[i]);
            }

            return n;
        }
    }
}

/// <summary>
/// Series of one metric family keyed by a struct of interned references and small values: a lookup per
/// measurement, and label text rendered once when a series is created. Bounded: past <paramref name="max"/>
/// series new combinations are not recorded (counted in <see cref="Overflow"/>).
/// </summary>
internal sealed class SeriesTable<TKey, TSeries>(int max, Func<TKey, TSeries> create)
    where TKey : notnull, IEquatable<TKey>
    where TSeries : class
{
    private readonly ConcurrentDictionary<TKey, TSeries> _series = new();
    private long _overflow;

    public long Overflow => Volatile.Read(ref _overflow);

    public ICollection<TSeries> All => _series.Values;

    public TSeries? Get(in TKey key)
    {
        if (_series.TryGetValue(key, out var series))
        {
            return series;
        }

        if (_series.Count >= max)
        {
            Interlocked.Increment(ref _overflow);
            return null;
        }

        return _series.GetOrAdd(key, create);
    }
}

/// <summary>Prometheus text format helpers.</summary>
internal static class Prometheus
{
    public static string Braces(string labels) => labels.Length == 0 ? string.Empty : "{" + labels + "}";

    public static string Escape(string s) =>
        s.AsSpan().IndexOfAny('\\', '"', '\n') < 0
            ? s
            : s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    /// <summary>Appends <c>name="value"</c> (escaped), with a leading comma unless it is the first label.</summary>
    public static StringBuilder Label(this StringBuilder sb, string name, string value)
    {
        if (sb.Length > 0)
        {
            sb.Append(',');
        }

        return sb.Append(name).Append("=\"").Append(Escape(value)).Append('"');
    }

    public static void Header(StringBuilder sb, string name, string type, string help) =>
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n').Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    public static void Sample(StringBuilder sb, string name, string labels, long value) =>
        sb.Append(name).Append(Braces(labels)).Append(' ').Append(value).Append('\n');

    /// <summary>Status codes 0..599 as strings, so that label keys need no formatting.</summary>
    public static readonly string[] StatusText = CreateStatusText();

    public static string Status(int code) => code is >= 0 and < 600 ? StatusText[code] : code.ToString(CultureInfo.InvariantCulture);

    private static string[] CreateStatusText()
    {
        var s = new string[600];
        for (var i = 0; i < s.Length; i++)
        {
            s[i] = i.ToString(CultureInfo.InvariantCulture);
        }

        return s;
    }
}
