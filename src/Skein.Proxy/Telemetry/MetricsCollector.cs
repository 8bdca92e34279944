using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Skein.Proxy.Telemetry;

/// <summary>
/// Writes the proxy's metrics in Prometheus text exposition format and as Envoy-style <c>/stats</c> lines: the
/// <see cref="IMetricsSource"/>s (Istio metrics, the proxy's request series, the span exporter), and the proxy
/// meter's instruments (rare events such as config updates), aggregated here by a <see cref="MeterListener"/>.
/// </summary>
internal sealed class MetricsCollector : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(Instrument Instrument, string Labels), Series> _series = new();
    private readonly Lock _sourcesLock = new();
    private IMetricsSource[] _sources = [];

    /// <summary>Collects the instruments of <paramref name="meter"/> only (several proxies may share a process in tests).</summary>
    public MetricsCollector(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Get(i, tags).Add(v));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Get(i, tags).Record(v));
        _listener.Start();
    }

    /// <summary>Adds a source whose families are written after the meter's.</summary>
    public void Add(IMetricsSource source)
    {
        lock (_sourcesLock)
        {
            _sources = [.. _sources, source];
        }
    }

    /// <summary>Writes every series in Prometheus text format (version 0.0.4).</summary>
    public void WritePrometheus(StringBuilder sb)
    {
        WriteMeter(sb);
        foreach (var source in Volatile.Read(ref _sources))
        {
            source.WritePrometheus(sb);
        }
    }

    private void WriteMeter(StringBuilder sb)
    {
        foreach (var group in Grouped())
        {
            var instrument = group.Key;
            var histogram = instrument is Histogram<double>;
            sb.Append("# HELP ").Append(instrument.Name).Append(' ').Append(instrument.Description).Append('\n');
            sb.Append("# TYPE ").Append(instrument.Name).Append(histogram ? " histogram\n" : " counter\n");
            foreach (var (labels, series) in group.Value)
            {
                if (!histogram)
                {
                    sb.Append(instrument.Name).Append(Braces(labels)).Append(' ').Append(series.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
                    continue;
                }

                var (buckets, counts, sum, count) = series.Snapshot();
                long cumulative = 0;
                for (var b = 0; b < buckets.Count; b++)
                {
                    cumulative += counts[b];
                    sb.Append(instrument.Name).Append("_bucket").Append(Braces(Join(labels, "le=\"" + buckets[b].ToString(CultureInfo.InvariantCulture) + "\"")))
                        .Append(' ').Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
                }

                sb.Append(instrument.Name).Append("_bucket").Append(Braces(Join(labels, "le=\"+Inf\""))).Append(' ').Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
                sb.Append(instrument.Name).Append("_sum").Append(Braces(labels)).Append(' ').Append(sum.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
                sb.Append(instrument.Name).Append("_count").Append(Braces(labels)).Append(' ').Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }
    }

    /// <summary>Writes counters as Envoy-style <c>name{labels}: value</c> lines.</summary>
    public void WriteStats(StringBuilder sb)
    {
        foreach (var source in Volatile.Read(ref _sources))
        {
            source.WriteStats(sb);
        }

        foreach (var group in Grouped())
        {
            foreach (var (labels, series) in group.Value)
            {
                var value = group.Key is Histogram<double> ? series.Snapshot().Count : series.Count;
                sb.Append(group.Key.Name).Append(Braces(labels)).Append(": ").Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }
    }

    public void Dispose() => _listener.Dispose();

    private SortedDictionary<Instrument, SortedDictionary<string, Series>> Grouped()
    {
        var groups = new SortedDictionary<Instrument, SortedDictionary<string, Series>>(Comparer<Instrument>.Create((a, b) => string.CompareOrdinal(a.Name, b.Name)));
        foreach (var ((instrument, labels), series) in _series)
        {
            if (!groups.TryGetValue(instrument, out var g))
            {
                groups[instrument] = g = new SortedDictionary<string, Series>(StringComparer.Ordinal);
            }

            g[labels] = series;
        }

        return groups;
    }

    private Series Get(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var sorted = tags.Length <= 1 ? tags.ToArray() : SortByKey(tags);
        var sb = new StringBuilder();
        foreach (var t in sorted)
        {
            if (sb.Length > 0)
            {
                sb.Append(',');
            }

            sb.Append(t.Key).Append("=\"").Append(Escape(Convert.ToString(t.Value, CultureInfo.InvariantCulture) ?? string.Empty)).Append('"');
        }

        return _series.GetOrAdd((instrument, sb.ToString()), static k => new Series(k.Instrument is Histogram<double> ? ProxyMetrics.Buckets : null));
    }

    private static KeyValuePair<string, object?>[] SortByKey(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var array = tags.ToArray();
        Array.Sort(array, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return array;
    }

    private static string Escape(string s) => s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string Braces(string labels) => labels.Length == 0 ? string.Empty : "{" + labels + "}";

    private static string Join(string labels, string extra) => labels.Length == 0 ? extra : labels + "," + extra;

    /// <summary>One time series: a counter, or a histogram with fixed buckets.</summary>
    private sealed class Series(IReadOnlyList<double>? buckets)
    {
        private readonly long[] _counts = new long[buckets?.Count ?? 0];
        private readonly Lock _lock = new();
        private long _count;
        private double _sum;

        public long Count => Volatile.Read(ref _count);

        public void Add(long v) => Interlocked.Add(ref _count, v);

        public void Record(double v)
        {
            lock (_lock)
            {
                var i = 0;
                while (i < _counts.Length && v > buckets![i])
                {
                    i++;
                }

                if (i < _counts.Length)
                {
                    _counts[i]++;
                }

                _count++;
                _sum += v;
            }
        }

        public (IReadOnlyList<double> Buckets, long[] Counts, double Sum, long Count) Snapshot()
        {
            lock (_lock)
            {
                return (buckets ?? [], (long[])_counts.Clone(), _sum, _count);
            }
        }
    }
}
