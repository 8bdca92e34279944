namespace Skein.ControlPlane.Telemetry;

/// <summary>Label matchers that narrow the flows read (a PromQL selector, or a predicate on the embedded window).</summary>
internal sealed record FlowFilter
{
    public string? DestinationWorkload { get; init; }

    public string? DestinationWorkloadNamespace { get; init; }

    public string? DestinationServiceName { get; init; }

    public string? DestinationServiceNamespace { get; init; }

    public bool Matches(FlowKey f) =>
        (DestinationWorkload is null || f.DestinationWorkload == DestinationWorkload)
        && (DestinationWorkloadNamespace is null || f.DestinationNamespace == DestinationWorkloadNamespace)
        && (DestinationServiceName is null || f.DestinationServiceName == DestinationServiceName)
        && (DestinationServiceNamespace is null || f.DestinationServiceNamespace == DestinationServiceNamespace);

    /// <summary>The matchers as PromQL label matchers (<c>a="b",c="d"</c>), values escaped.</summary>
    public string PromQl()
    {
        var parts = new List<string>();
        Add("destination_workload", DestinationWorkload);
        Add("destination_workload_namespace", DestinationWorkloadNamespace);
        Add("destination_service_name", DestinationServiceName);
        Add("destination_service_namespace", DestinationServiceNamespace);
        return string.Join(',', parts);

        void Add(string label, string? value)
        {
            if (value is not null)
            {
                parts.Add($"{label}=\"{value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}\"");
            }
        }
    }
}

/// <summary>A flow's per-second rates at one point of a range.</summary>
internal sealed record RatePoint(DateTimeOffset Time, Dictionary<FlowKey, FlowAggregate> Rates);

/// <summary>
/// Where the telemetry views read Istio's metrics from: the embedded scraper's window, or a Prometheus server's
/// HTTP API. Both answer with per-flow per-second rates (requests, failures, duration buckets, TCP bytes), so
/// every view (stat, graph, series, quantiles) is computed the same way whichever is used.
/// </summary>
internal interface ITelemetryReader
{
    /// <summary>"embedded" or the Prometheus URL.</summary>
    string Source { get; }

    /// <summary>Rates over the <paramref name="window"/> ending now; null when nothing has been read yet.</summary>
    Task<Dictionary<FlowKey, FlowAggregate>?> RatesAsync(TimeSpan window, FlowFilter? filter, CancellationToken cancel);

    /// <summary>Rates over <paramref name="window"/> at each <paramref name="step"/> of the last <paramref name="range"/>, oldest first.</summary>
    Task<IReadOnlyList<RatePoint>> RangeAsync(TimeSpan range, TimeSpan step, TimeSpan window, FlowFilter? filter, CancellationToken cancel);
}

/// <summary>Reads the embedded scraper's rolling window.</summary>
internal sealed class EmbeddedTelemetryReader(TelemetryWindow window, TimeProvider time) : ITelemetryReader
{
    public string Source => "embedded";

    public Task<Dictionary<FlowKey, FlowAggregate>?> RatesAsync(TimeSpan range, FlowFilter? filter, CancellationToken cancel) =>
        Task.FromResult(window.Rates(Now(), range, filter is null ? null : filter.Matches));

    public Task<IReadOnlyList<RatePoint>> RangeAsync(TimeSpan range, TimeSpan step, TimeSpan rateWindow, FlowFilter? filter, CancellationToken cancel)
    {
        var end = Now();
        var points = new List<RatePoint>();
        var steps = (int)Math.Min(2000, Math.Floor(range / step));
        for (var i = steps; i >= 0; i--)
        {
            var t = end - (step * i);
            if (window.Rates(t, rateWindow, filter is null ? null : filter.Matches) is { } rates)
            {
                points.Add(new RatePoint(t, rates));
            }
        }

        return Task.FromResult<IReadOnlyList<RatePoint>>(points);
    }

    /// <summary>The latest round's time when it is recent, so a read between rounds sees the last round in full.</summary>
    private DateTimeOffset Now()
    {
        var now = time.GetUtcNow();
        return window.Latest is { } latest && latest <= now && now - latest < TimeSpan.FromSeconds(30) ? latest : now;
    }
}
