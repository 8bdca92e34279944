using Skein.ControlPlane.Telemetry;

namespace Skein.ControlPlane.Tests.Telemetry;

public sealed class TelemetryWindowTests
{
    private static readonly FlowKey Inbound = new(Reporter.Destination, "frontend", "default", "reviews-v2", "default", "reviews.default.svc.cluster.local", "reviews", "default");
    private static readonly FlowKey Outbound = new(Reporter.Source, "frontend", "default", "reviews-v2", "default", "reviews.default.svc.cluster.local", "reviews", "default");
    private static readonly FlowKey Faulted = new(Reporter.Source, "reviews-v2", "default", "unknown", "unknown", "ratings.default.svc.cluster.local", "ratings", "default");
    private static readonly FlowKey RatingsIn = new(Reporter.Destination, "reviews-v2", "default", "ratings", "default", "ratings.default.svc.cluster.local", "ratings", "default");

    private static FlowAggregate Agg(double requests, double errors = 0)
    {
        var a = new FlowAggregate { Requests = requests, Errors = errors };
        a.Buckets.Add(10, requests);
        a.Buckets.Add(double.PositiveInfinity, requests);
        return a;
    }

    [Fact]
    public void Rates_SumOfRoundsInRange_DividedByTheTimeTheyCovered()
    {
        var t0 = DateTimeOffset.UnixEpoch.AddDays(20000);
        var window = new TelemetryWindow(TimeSpan.FromMinutes(15));
        window.Commit(t0, TimeSpan.FromSeconds(5), new Dictionary<FlowKey, FlowAggregate> { [Inbound] = Agg(50, 5) });
        window.Commit(t0.AddSeconds(5), TimeSpan.FromSeconds(5), new Dictionary<FlowKey, FlowAggregate> { [Inbound] = Agg(150, 5) });
        window.Commit(t0.AddSeconds(10), TimeSpan.FromSeconds(5), new Dictionary<FlowKey, FlowAggregate> { [Inbound] = Agg(100) });

        var all = window.Rates(t0.AddSeconds(10), TimeSpan.FromSeconds(60))!;
        var lastTwo = window.Rates(t0.AddSeconds(10), TimeSpan.FromSeconds(10))!;

        Assert.Equal(300 / 15.0, all[Inbound].Requests, 9);
        Assert.Equal(10 / 15.0, all[Inbound].Errors, 9);
        Assert.Equal(250 / 10.0, lastTwo[Inbound].Requests, 9);
        Assert.Null(window.Rates(t0.AddMinutes(5), TimeSpan.FromMinutes(1))); // nothing covers that minute
    }

    [Fact]
    public void Commit_OlderThanRetention_Dropped()
    {
        var t0 = DateTimeOffset.UnixEpoch.AddDays(20000);
        var window = new TelemetryWindow(TimeSpan.FromMinutes(15));
        for (var i = 0; i <= 16 * 12; i++)
        {
            window.Commit(t0.AddSeconds(5 * i), TimeSpan.FromSeconds(5), new Dictionary<FlowKey, FlowAggregate>());
        }

        Assert.Equal((15 * 12) + 1, window.SlotCount);
        Assert.Equal(t0.AddSeconds(5 * 16 * 12) - TimeSpan.FromMinutes(15) - TimeSpan.FromSeconds(5), window.Oldest);
    }

    [Fact]
    public async Task EmbeddedReader_Range_OnePointPerStepWithTheRateOverTheWindow()
    {
        var time = new ManualTime(DateTimeOffset.UnixEpoch.AddDays(20000));
        var window = new TelemetryWindow(TimeSpan.FromMinutes(15));
        for (var i = 0; i < 24; i++)
        {
            time.Advance(TimeSpan.FromSeconds(5));
            window.Commit(time.GetUtcNow(), TimeSpan.FromSeconds(5), new Dictionary<FlowKey, FlowAggregate> { [Inbound] = Agg(i < 12 ? 10 : 40) });
        }

        var points = await new EmbeddedTelemetryReader(window, time).RangeAsync(TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), null, default);

        Assert.Equal(3, points.Count);
        Assert.Equal(2, points[0].Rates[Inbound].Requests, 9); // the first minute: 10 per 5 s
        Assert.Equal(8, points[2].Rates[Inbound].Requests, 9); // the last 30 s: 40 per 5 s
    }

    [Fact]
    public void Views_WorkloadsInboundServicesFromCallers_FaultsOnTheServiceAndItsEdge()
    {
        var rates = new Dictionary<FlowKey, FlowAggregate>
        {
            [Inbound] = Agg(10, 1),
            [Outbound] = Agg(10, 1),
            [Faulted] = Agg(4, 4),
            [RatingsIn] = Agg(4),
            [Outbound with { SourceWorkload = "client" }] = Agg(0),
        };
        rates[new FlowKey(Reporter.Source, "reviews-v2", "default", "ratings", "default", "ratings.default.svc.cluster.local", "ratings", "default")] = Agg(4);
        var inventory = new MeshInventory([new MeshObject("catalog", "default"), new MeshObject("reviews-v2", "default")], [new MeshObject("catalog", "default")]);

        var workloads = TelemetryViews.Workloads(rates, inventory);
        var services = TelemetryViews.Services(rates, inventory);
        var graph = TelemetryViews.BuildGraph(rates, inventory);

        Assert.Equal(["catalog", "ratings", "reviews-v2"], workloads.Select(w => w.Name));
        Assert.Null(workloads[0].Stats); // idle, still listed
        Assert.Equal(1.0, workloads[1].Stats!.SuccessRate); // ratings itself answered every call that reached it
        Assert.Equal(0.9, workloads[2].Stats!.SuccessRate!.Value, 9);
        var ratings = services.Single(s => s.Name == "ratings").Stats!;
        Assert.Equal((8.0, 0.5), (ratings.Rps, ratings.SuccessRate!.Value)); // its caller saw half fail (the injected faults)
        var faultEdge = graph.Edges.Single(e => e.Source == "workload:default/reviews-v2" && e.Target == "service:default/ratings");
        Assert.Equal(0.5, faultEdge.Stats.SuccessRate!.Value, 9);
        var behind = graph.Edges.Single(e => e.Source == "service:default/ratings" && e.Target == "workload:default/ratings");
        Assert.Equal((4.0, 1.0), (behind.Stats.Rps, behind.Stats.SuccessRate!.Value));
        Assert.Contains(graph.Edges, e => e.Source == "workload:default/client" && !e.Stats.HasTraffic);
        Assert.Contains(graph.Nodes, n => n.Id == "workload:default/client");
        Assert.Equal(10, graph.Nodes.Single(n => n.Id == "workload:default/reviews-v2").Stats!.Rps);
    }
}

/// <summary>A clock the test moves.</summary>
internal sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public void Advance(TimeSpan by) => _now += by;

    public override DateTimeOffset GetUtcNow() => _now;
}
