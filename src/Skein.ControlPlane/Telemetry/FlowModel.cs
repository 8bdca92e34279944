namespace Skein.ControlPlane.Telemetry;

/// <summary>Which proxy of a call recorded it: the caller's (<c>source</c>) or the callee's (<c>destination</c>).</summary>
internal enum Reporter
{
    Source,
    Destination,
}

/// <summary>
/// A flow: who called whom, in Istio's standard labels, without the per-request ones (status, flags). Faults
/// injected by the caller's proxy never reach the callee, so only <c>reporter="source"</c> flows see them;
/// their <c>destination_workload</c> is then "unknown".
/// </summary>
internal sealed record FlowKey(
    Reporter Reporter,
    string SourceWorkload,
    string SourceNamespace,
    string DestinationWorkload,
    string DestinationNamespace,
    string DestinationService,
    string DestinationServiceName,
    string DestinationServiceNamespace)
{
    public const string Unknown = "unknown";

    /// <summary>The Istio label names a flow is made of (PromQL <c>by (...)</c>).</summary>
    public const string Labels = "reporter, source_workload, source_workload_namespace, destination_workload, destination_workload_namespace, destination_service, destination_service_name, destination_service_namespace";

    /// <summary>Builds a flow from label pairs; absent labels are "unknown" as Istio writes them.</summary>
    public static FlowKey? FromLabels(IEnumerable<KeyValuePair<string, string>> labels)
    {
        string? reporter = null, srcWl = null, srcNs = null, dstWl = null, dstNs = null, svc = null, svcName = null, svcNs = null;
        foreach (var (k, v) in labels)
        {
            switch (k)
            {
                case "reporter": reporter = v; break;
                case "source_workload": srcWl = v; break;
                case "source_workload_namespace": srcNs = v; break;
                case "destination_workload": dstWl = v; break;
                case "destination_workload_namespace": dstNs = v; break;
                case "destination_service": svc = v; break;
                case "destination_service_name": svcName = v; break;
                case "destination_service_namespace": svcNs = v; break;
                default: break;
            }
        }

        var r = reporter switch
        {
            "source" => Reporter.Source,
            "destination" => Reporter.Destination,
            _ => (Reporter?)null,
        };
        if (r is null)
        {
            return null;
        }

        svc = Or(svc);
        svcName = Or(svcName);
        if (svcName == Unknown && svc != Unknown)
        {
            svcName = svc.Split('.')[0]; // "reviews.default.svc.cluster.local" → "reviews"
        }

        return new FlowKey(r.Value, Or(srcWl), Or(srcNs), Or(dstWl), Or(dstNs), svc, svcName, Or(svcNs));

        static string Or(string? v) => string.IsNullOrEmpty(v) ? Unknown : v;
    }
}

/// <summary>
/// What one flow did over a stretch of time: requests, failed requests, the duration histogram's cumulative
/// buckets and TCP bytes. Values are counts inside the rolling window and per-second rates once read out; the
/// arithmetic (adding, quantiles) is the same for both.
/// </summary>
internal sealed class FlowAggregate
{
    public double Requests { get; set; }

    public double Errors { get; set; }

    public BucketSet Buckets { get; } = new();

    public double TcpSent { get; set; }

    public double TcpReceived { get; set; }

    public bool HasHttp => Requests > 0 || Buckets.Count > 0;

    public void Add(FlowAggregate other)
    {
        Requests += other.Requests;
        Errors += other.Errors;
        Buckets.Add(other.Buckets);
        TcpSent += other.TcpSent;
        TcpReceived += other.TcpReceived;
    }

    public FlowAggregate Scaled(double factor)
    {
        var s = new FlowAggregate
        {
            Requests = Requests * factor,
            Errors = Errors * factor,
            TcpSent = TcpSent * factor,
            TcpReceived = TcpReceived * factor,
        };
        s.Buckets.Add(Buckets, factor);
        return s;
    }
}

/// <summary>
/// Cumulative histogram buckets by upper bound (<c>le</c>), sorted, +Inf included when seen. Small (Istio has
/// 19 bounds), so a sorted pair of arrays beats a dictionary.
/// </summary>
internal sealed class BucketSet
{
    private double[] _bounds = [];
    private double[] _counts = [];
    private int _count;

    public int Count => _count;

    public double Bound(int i) => _bounds[i];

    public double Value(int i) => _counts[i];

    public void Add(double le, double value)
    {
        var i = Array.BinarySearch(_bounds, 0, _count, le);
        if (i >= 0)
        {
            _counts[i] += value;
            return;
        }

        i = ~i;
        if (_count == _bounds.Length)
        {
            var size = Math.Max(4, _count * 2);
            Array.Resize(ref _bounds, size);
            Array.Resize(ref _counts, size);
        }

        Array.Copy(_bounds, i, _bounds, i + 1, _count - i);
        Array.Copy(_counts, i, _counts, i + 1, _count - i);
        _bounds[i] = le;
        _counts[i] = value;
        _count++;
    }

    public void Add(BucketSet other, double factor = 1)
    {
        for (var i = 0; i < other._count; i++)
        {
            Add(other._bounds[i], other._counts[i] * factor);
        }
    }

    /// <summary>
    /// The φ-quantile as Prometheus' <c>histogram_quantile</c> computes it from classic buckets: linear
    /// interpolation inside the bucket that holds the rank, 0 as the lower bound of the first bucket, the
    /// second-highest bound when the rank falls in +Inf, NaN without observations or without a +Inf bucket.
    /// </summary>
    public double Quantile(double q)
    {
        if (double.IsNaN(q))
        {
            return double.NaN;
        }

        if (q < 0)
        {
            return double.NegativeInfinity;
        }

        if (q > 1)
        {
            return double.PositiveInfinity;
        }

        if (_count < 2 || !double.IsPositiveInfinity(_bounds[_count - 1]))
        {
            return double.NaN;
        }

        // Counts are cumulative: force monotonicity as Prometheus does (its envelope), on a copy.
        Span<double> counts = _count <= 64 ? stackalloc double[_count] : new double[_count];
        var max = 0.0;
        for (var i = 0; i < _count; i++)
        {
            max = Math.Max(max, _counts[i]);
            counts[i] = max;
        }

        var observations = counts[_count - 1];
        if (observations <= 0)
        {
            return double.NaN;
        }

        var rank = q * observations;
        var b = 0;
        while (b < _count - 1 && counts[b] < rank)
        {
            b++;
        }

        if (b == _count - 1)
        {
            return _bounds[_count - 2];
        }

        if (b == 0 && _bounds[0] <= 0)
        {
            return _bounds[0];
        }

        var start = 0.0;
        var end = _bounds[b];
        var inBucket = counts[b];
        if (b > 0)
        {
            start = _bounds[b - 1];
            inBucket -= counts[b - 1];
            rank -= counts[b - 1];
        }

        return start + ((end - start) * (rank / inBucket));
    }
}
