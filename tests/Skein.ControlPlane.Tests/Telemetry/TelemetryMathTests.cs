using System.Globalization;
using System.Text;
using Skein.ControlPlane.Telemetry;

namespace Skein.ControlPlane.Tests.Telemetry;

/// <summary>Writes Istio's standard metrics as a sidecar exposes them, for feeding the scraper.</summary>
internal sealed class IstioText
{
    public static readonly double[] Buckets = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

    private readonly StringBuilder _text = new();

    public static string Flow(string reporter, string source, string destination, string service, string extra = "") =>
        $"reporter=\"{reporter}\",source_workload=\"{source}\",source_workload_namespace=\"default\",destination_workload=\"{destination}\",destination_workload_namespace=\"{(destination == "unknown" ? "unknown" : "default")}\",destination_service=\"{service}.default.svc.cluster.local\",destination_service_name=\"{service}\",destination_service_namespace=\"default\"{extra}";

    public IstioText Requests(string flow, string code, double count, string grpc = "")
    {
        _text.Append(CultureInfo.InvariantCulture, $"istio_requests_total{{{flow},response_code=\"{code}\",grpc_response_status=\"{grpc}\",response_flags=\"-\"}} {count}\n");
        return this;
    }

    /// <summary>A duration histogram holding <paramref name="observations"/> (milliseconds), cumulative per Istio bucket.</summary>
    public IstioText Durations(string flow, params double[] observations)
    {
        foreach (var le in Buckets)
        {
            _text.Append(CultureInfo.InvariantCulture, $"istio_request_duration_milliseconds_bucket{{{flow},response_code=\"200\",le=\"{le}\"}} {observations.Count(o => o <= le)}\n");
        }

        _text.Append(CultureInfo.InvariantCulture, $"istio_request_duration_milliseconds_bucket{{{flow},response_code=\"200\",le=\"+Inf\"}} {observations.Length}\n");
        _text.Append(CultureInfo.InvariantCulture, $"istio_request_duration_milliseconds_sum{{{flow},response_code=\"200\"}} {observations.Sum()}\n");
        _text.Append(CultureInfo.InvariantCulture, $"istio_request_duration_milliseconds_count{{{flow},response_code=\"200\"}} {observations.Length}\n");
        return this;
    }

    public IstioText Tcp(string flow, double sent, double received)
    {
        _text.Append(CultureInfo.InvariantCulture, $"istio_tcp_sent_bytes_total{{{flow}}} {sent}\n");
        _text.Append(CultureInfo.InvariantCulture, $"istio_tcp_received_bytes_total{{{flow}}} {received}\n");
        return this;
    }

    public override string ToString() => _text.ToString();
}

public sealed class TelemetryMathTests
{
    private static BucketSet Set(params (double Le, double Count)[] buckets)
    {
        var set = new BucketSet();
        foreach (var (le, count) in buckets)
        {
            set.Add(le, count);
        }

        return set;
    }

    // Bucket counts of the recorded reviews-v2 sidecar: 40 ≤ 5ms, 120 ≤ 10ms, 170 ≤ 25ms, 180 ≤ 50ms.
    private static BucketSet Recorded() => Set((0.5, 0), (1, 0), (5, 40), (10, 120), (25, 170), (50, 180), (double.PositiveInfinity, 180));

    [Theory]
    [InlineData(0.5, 8.125)] // rank 90 in (5,10]: 5 + 5 * (90-40)/80
    [InlineData(0.95, 27.5)] // rank 171 in (25,50]: 25 + 25 * 1/10
    [InlineData(0.99, 45.5)] // rank 178.2: 25 + 25 * 8.2/10
    [InlineData(0.1, 2.8)] // rank 18 in (1,5]: 1 + 4 * 18/40
    public void Quantile_RecordedBuckets_MatchesHandComputedInterpolation(double q, double expected)
    {
        Assert.Equal(expected, Recorded().Quantile(q), 9);
    }

    [Fact]
    public void Quantile_EdgeCases_AsPrometheusHistogramQuantile()
    {
        Assert.Equal(1, Set((1, 0), (double.PositiveInfinity, 10)).Quantile(0.5)); // in +Inf: the second-highest bound
        Assert.Equal(5, Set((10, 10), (double.PositiveInfinity, 10)).Quantile(0.5)); // the first bucket starts at 0
        Assert.Equal(1, Set((1, 5), (2, 3), (double.PositiveInfinity, 10)).Quantile(0.5)); // non-monotonic: the envelope
        Assert.True(double.IsNaN(Set((1, 5), (2, 10)).Quantile(0.5))); // no +Inf bucket
        Assert.True(double.IsNaN(Set((1, 0), (double.PositiveInfinity, 0)).Quantile(0.5))); // no observations
        Assert.Equal(double.PositiveInfinity, Recorded().Quantile(1.5));
        Assert.Equal(double.NegativeInfinity, Recorded().Quantile(-1));
    }

    [Fact]
    public void Apply_FirstScrapeOfATarget_OnlySetsTheBaseline()
    {
        var counters = new TargetCounters();
        var increments = new Dictionary<FlowKey, FlowAggregate>();

        counters.Apply(PrometheusTextTests.Recorded("reviews-v2-sidecar.txt"), increments);

        Assert.Empty(increments);
        Assert.Equal(14, counters.SeriesCount);
    }

    [Fact]
    public void Apply_CountersGrow_IncrementsPerFlowWithFailuresAndBuckets()
    {
        var inbound = IstioText.Flow("destination", "frontend", "reviews-v2", "reviews");
        var counters = new TargetCounters();
        counters.Apply(new IstioText().Requests(inbound, "200", 100).Requests(inbound, "503", 5).Durations(inbound, 3, 7).ToString(), []);
        var increments = new Dictionary<FlowKey, FlowAggregate>();

        counters.Apply(new IstioText().Requests(inbound, "200", 190).Requests(inbound, "503", 15).Durations(inbound, 3, 7, 7, 40).ToString(), increments);

        var (flow, agg) = Assert.Single(increments);
        Assert.Equal(new FlowKey(Reporter.Destination, "frontend", "default", "reviews-v2", "default", "reviews.default.svc.cluster.local", "reviews", "default"), flow);
        Assert.Equal(100, agg.Requests);
        Assert.Equal(10, agg.Errors);
        Assert.Equal(2, agg.Buckets.Value(agg.Buckets.Count - 1)); // +Inf grew by the two new observations
        Assert.Equal(10, agg.Buckets.Quantile(0.5)); // new: one in (5,10], one in (25,50]; rank 1 ends the (5,10] bucket
        Assert.Equal(25 + (25 * 0.98), agg.Buckets.Quantile(0.99), 9); // rank 1.98 in (25,50]: 25 + 25 * 0.98/1
    }

    [Fact]
    public void Apply_CounterWentDown_TreatedAsAResetFromZero()
    {
        var flow = IstioText.Flow("source", "frontend", "catalog", "catalog");
        var counters = new TargetCounters();
        counters.Apply(new IstioText().Requests(flow, "200", 1000).ToString(), []);
        var increments = new Dictionary<FlowKey, FlowAggregate>();

        counters.Apply(new IstioText().Requests(flow, "200", 30).ToString(), increments);

        Assert.Equal(30, Assert.Single(increments).Value.Requests);
    }

    [Fact]
    public void Apply_SeriesAppearsLater_CountsFromZero()
    {
        var ok = IstioText.Flow("source", "reviews-v2", "ratings", "ratings");
        var faulted = IstioText.Flow("source", "reviews-v2", "unknown", "ratings");
        var counters = new TargetCounters();
        counters.Apply(new IstioText().Requests(ok, "200", 10, "0").ToString(), []);
        var increments = new Dictionary<FlowKey, FlowAggregate>();

        counters.Apply(new IstioText().Requests(ok, "200", 20, "0").Requests(faulted, "500", 8).Requests(ok, "200", 4, "14").ToString(), increments);

        var fault = increments.Single(i => i.Key.DestinationWorkload == "unknown").Value;
        var okFlow = increments.Single(i => i.Key.DestinationWorkload == "ratings").Value;
        Assert.Equal((8, 8), (fault.Requests, fault.Errors));
        Assert.Equal((14, 4), (okFlow.Requests, okFlow.Errors)); // grpc-status 14 (UNAVAILABLE) over HTTP 200 is a failure
    }

    [Theory]
    [InlineData("200", "", false)]
    [InlineData("404", "", false)]
    [InlineData("503", "", true)]
    [InlineData("0", "", true)]
    [InlineData("200", "0", false)]
    [InlineData("200", "2", true)]
    public void IsFailure_StatusAndGrpcStatus(string code, string grpc, bool failed)
    {
        Assert.Equal(failed, TargetCounters.IsFailure(code, grpc));
    }
}
