using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Skein.ControlPlane.Telemetry;

/// <summary>
/// skein-control's own metrics, served as Prometheus text on the HTTP port's <c>/metrics</c>: pushes, ACKs,
/// NACKs and stale requests per type, the time from a config change to the proxy's ACK, and gauges for the
/// config version and connected proxies. Lock-free counters; rendering takes a consistent-enough snapshot.
/// </summary>
internal sealed class ControlPlaneMetrics
{
    private static readonly double[] LatencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly ConcurrentDictionary<(string Name, string Type), long> _counters = new();
    private readonly ConcurrentDictionary<string, Histogram> _ackLatency = new(StringComparer.Ordinal);
    private long _connected;
    private long _version;

    public void Count(string name, string type) => _counters.AddOrUpdate((name, type), 1, (_, v) => v + 1);

    public long Get(string name, string type) => _counters.TryGetValue((name, type), out var v) ? v : 0;

    public void Connected(int delta) => Interlocked.Add(ref _connected, delta);

    public void ConfigVersion(long version) => Interlocked.Exchange(ref _version, version);

    /// <summary>Records how long after its snapshot was built a proxy ACKed a type.</summary>
    public void AckLatency(string type, TimeSpan latency) =>
        _ackLatency.GetOrAdd(type, _ => new Histogram(LatencyBuckets)).Observe(Math.Max(0, latency.TotalSeconds));

    public string Render()
    {
        var sb = new StringBuilder();
        sb.Append("# HELP skein_control_config_version Version of the mesh snapshot in force.\n# TYPE skein_control_config_version gauge\n");
        sb.Append(CultureInfo.InvariantCulture, $"skein_control_config_version {Interlocked.Read(ref _version)}\n");
        sb.Append("# HELP skein_control_proxies_connected Proxies with an open ADS stream.\n# TYPE skein_control_proxies_connected gauge\n");
        sb.Append(CultureInfo.InvariantCulture, $"skein_control_proxies_connected {Interlocked.Read(ref _connected)}\n");

        foreach (var group in _counters.GroupBy(c => c.Key.Name).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"# TYPE skein_control_xds_{group.Key}_total counter\n");
            foreach (var c in group.OrderBy(c => c.Key.Type, StringComparer.Ordinal))
            {
                sb.Append(CultureInfo.InvariantCulture, $"skein_control_xds_{group.Key}_total{{type=\"{ShortType(c.Key.Type)}\"}} {c.Value}\n");
            }
        }

        sb.Append("# HELP skein_control_xds_ack_seconds Time from a config change to the proxy's ACK of the resources it produced.\n");
        sb.Append("# TYPE skein_control_xds_ack_seconds histogram\n");
        foreach (var (type, histogram) in _ackLatency.OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            histogram.Render(sb, "skein_control_xds_ack_seconds", ShortType(type));
        }

        return sb.ToString();
    }

    internal static string ShortType(string typeUrl) => typeUrl switch
    {
        Skein.Xds.TypeUrls.Cluster => "clusters",
        Skein.Xds.TypeUrls.ClusterLoadAssignment => "endpoints",
        Skein.Xds.TypeUrls.Listener => "listeners",
        Skein.Xds.TypeUrls.RouteConfiguration => "routes",
        Skein.Xds.TypeUrls.Secret => "secrets",
        _ => typeUrl,
    };

    private sealed class Histogram(double[] bounds)
    {
        private readonly long[] _buckets = new long[bounds.Length + 1];
        private long _count;
        private long _sumMicros;

        public void Observe(double seconds)
        {
            var i = 0;
            while (i < bounds.Length && seconds > bounds[i])
            {
                i++;
            }

            Interlocked.Increment(ref _buckets[i]);
            Interlocked.Increment(ref _count);
            Interlocked.Add(ref _sumMicros, (long)(seconds * 1_000_000));
        }

        public void Render(StringBuilder sb, string name, string type)
        {
            long cumulative = 0;
            for (var i = 0; i < bounds.Length; i++)
            {
                cumulative += Interlocked.Read(ref _buckets[i]);
                sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{type=\"{type}\",le=\"{bounds[i]}\"}} {cumulative}\n");
            }

            cumulative += Interlocked.Read(ref _buckets[^1]);
            sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{type=\"{type}\",le=\"+Inf\"}} {cumulative}\n");
            sb.Append(CultureInfo.InvariantCulture, $"{name}_sum{{type=\"{type}\"}} {Interlocked.Read(ref _sumMicros) / 1_000_000.0}\n");
            sb.Append(CultureInfo.InvariantCulture, $"{name}_count{{type=\"{type}\"}} {Interlocked.Read(ref _count)}\n");
        }
    }
}
