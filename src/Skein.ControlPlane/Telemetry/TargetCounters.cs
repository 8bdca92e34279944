namespace Skein.ControlPlane.Telemetry;

/// <summary>
/// The Istio counters of one scrape target between scrapes. Each scrape's text is turned into increments per
/// flow since the previous scrape, as Prometheus' <c>increase()</c> sees them: a counter that went down was
/// reset (the proxy restarted) and counts from zero; a series that appears on a target scraped before started
/// from zero. The first scrape of a target only sets the baseline, since its history is unknown.
/// A series is looked up by its text as written (an alternate span lookup), so labels are decoded once per series.
/// </summary>
internal sealed class TargetCounters
{
    public const string Requests = "istio_requests_total";
    public const string DurationBucket = "istio_request_duration_milliseconds_bucket";
    public const string TcpSent = "istio_tcp_sent_bytes_total";
    public const string TcpReceived = "istio_tcp_received_bytes_total";

    private readonly Dictionary<string, Series> _series = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Series>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly List<KeyValuePair<string, string>> _labels = [];
    private bool _baselined;
    private long _generation;

    public TargetCounters()
    {
        _lookup = _series.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int SeriesCount => _series.Count;

    /// <summary>Reads one scrape and adds this target's increments to <paramref name="increments"/>; returns the malformed lines.</summary>
    public int Apply(ReadOnlySpan<char> text, Dictionary<FlowKey, FlowAggregate> increments)
    {
        var generation = ++_generation;
        var first = !_baselined;
        var malformed = PrometheusText.Parse(text, "istio_", (in PrometheusLine line) =>
        {
            if (!_lookup.TryGetValue(line.Series, out var series))
            {
                series = Describe(line);
                _lookup[line.Series] = series;
            }

            if (series.Kind == SeriesKind.Ignored)
            {
                series.Generation = generation;
                return;
            }

            var value = line.Value;
            double delta;
            if (series.Generation == 0)
            {
                delta = first ? 0 : value;
            }
            else
            {
                delta = value >= series.Last ? value - series.Last : value;
            }

            series.Last = value;
            series.Generation = generation;
            // Buckets are recorded even when unchanged: a missing lower bucket would move the interpolation's lower bound.
            if ((delta > 0 || (series.Kind == SeriesKind.Bucket && delta == 0 && !first)) && double.IsFinite(delta))
            {
                Record(series, delta, increments);
            }
        });

        _baselined = true;
        if (_series.Count > 0)
        {
            // Series that were not in this scrape are gone (the proxy dropped them); forget them.
            List<string>? stale = null;
            foreach (var (key, s) in _series)
            {
                if (s.Generation != generation)
                {
                    (stale ??= []).Add(key);
                }
            }

            if (stale is not null)
            {
                foreach (var key in stale)
                {
                    _series.Remove(key);
                }
            }
        }

        return malformed;
    }

    private static void Record(Series series, double delta, Dictionary<FlowKey, FlowAggregate> increments)
    {
        if (!increments.TryGetValue(series.Flow!, out var agg))
        {
            agg = new FlowAggregate();
            increments[series.Flow!] = agg;
        }

        switch (series.Kind)
        {
            case SeriesKind.Requests:
                agg.Requests += delta;
                if (series.Error)
                {
                    agg.Errors += delta;
                }

                break;
            case SeriesKind.Bucket:
                agg.Buckets.Add(series.Le, delta);
                break;
            case SeriesKind.TcpSent:
                agg.TcpSent += delta;
                break;
            case SeriesKind.TcpReceived:
                agg.TcpReceived += delta;
                break;
            default:
                break;
        }
    }

    private Series Describe(in PrometheusLine line)
    {
        var kind = line.Name switch
        {
            Requests => SeriesKind.Requests,
            DurationBucket => SeriesKind.Bucket,
            TcpSent => SeriesKind.TcpSent,
            TcpReceived => SeriesKind.TcpReceived,
            _ => SeriesKind.Ignored,
        };
        if (kind == SeriesKind.Ignored)
        {
            return new Series(SeriesKind.Ignored);
        }

        _labels.Clear();
        if (!PrometheusText.TryParseLabels(line.Labels, _labels) || FlowKey.FromLabels(_labels) is not { } flow)
        {
            return new Series(SeriesKind.Ignored);
        }

        var series = new Series(kind) { Flow = flow };
        string? code = null, grpc = null, le = null;
        foreach (var (k, v) in _labels)
        {
            switch (k)
            {
                case "response_code": code = v; break;
                case "grpc_response_status": grpc = v; break;
                case "le": le = v; break;
                default: break;
            }
        }

        if (kind == SeriesKind.Bucket)
        {
            if (le is null || !PrometheusText.TryParseValue(le, out var bound))
            {
                return new Series(SeriesKind.Ignored);
            }

            series.Le = bound;
        }

        series.Error = IsFailure(code, grpc);
        return series;
    }

    /// <summary>
    /// A failed request: a 5xx, no response at all (code 0, as Envoy writes a reset), or a gRPC status other than OK.
    /// </summary>
    public static bool IsFailure(string? responseCode, string? grpcStatus)
    {
        if (responseCode is { Length: > 0 } code && (code[0] == '5' || code == "0"))
        {
            return true;
        }

        return grpcStatus is { Length: > 0 } g && g != "0" && g != FlowKey.Unknown && g != "-";
    }

    private enum SeriesKind
    {
        Ignored,
        Requests,
        Bucket,
        TcpSent,
        TcpReceived,
    }

    private sealed class Series(SeriesKind kind)
    {
        public SeriesKind Kind { get; } = kind;

        public FlowKey? Flow { get; init; }

        public bool Error { get; set; }

        public double Le { get; set; }

        public double Last { get; set; }

        public long Generation { get; set; }
    }
}
