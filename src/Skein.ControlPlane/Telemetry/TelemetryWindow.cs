namespace Skein.ControlPlane.Telemetry;

/// <summary>
/// The rolling window of the embedded scraper: one immutable slot per scrape round holding each flow's
/// increments and the time the round covered (since the previous one). Rates over a range are the summed
/// increments divided by the summed coverage, as <c>rate()</c> would give them. Slots older than the retention
/// fall off. Readers take the current array (swapped whole by the single writer), so they never lock.
/// </summary>
internal sealed class TelemetryWindow(TimeSpan retention)
{
    private Slot[] _slots = [];

    public TimeSpan Retention { get; } = retention;

    public int SlotCount => Volatile.Read(ref _slots).Length;

    /// <summary>Adds a scrape round that ended at <paramref name="time"/> and covered <paramref name="covered"/>.</summary>
    public void Commit(DateTimeOffset time, TimeSpan covered, IReadOnlyDictionary<FlowKey, FlowAggregate> increments)
    {
        var current = Volatile.Read(ref _slots);
        var keep = 0;
        while (keep < current.Length && time - current[keep].Time > Retention)
        {
            keep++;
        }

        var next = new Slot[current.Length - keep + 1];
        Array.Copy(current, keep, next, 0, current.Length - keep);
        next[^1] = new Slot(time, covered, increments);
        Volatile.Write(ref _slots, next);
    }

    /// <summary>Per-second rates of each flow over the <paramref name="range"/> that ends at <paramref name="end"/>; null when no round covers it.</summary>
    public Dictionary<FlowKey, FlowAggregate>? Rates(DateTimeOffset end, TimeSpan range, Func<FlowKey, bool>? filter = null)
    {
        var slots = Volatile.Read(ref _slots);
        var start = end - range;
        var covered = 0.0;
        var sums = new Dictionary<FlowKey, FlowAggregate>();
        foreach (var slot in slots)
        {
            // A round belongs to the range when it ended inside it.
            if (slot.Time <= start || slot.Time > end)
            {
                continue;
            }

            covered += slot.Covered.TotalSeconds;
            foreach (var (flow, agg) in slot.Flows)
            {
                if (filter is not null && !filter(flow))
                {
                    continue;
                }

                if (!sums.TryGetValue(flow, out var sum))
                {
                    sum = new FlowAggregate();
                    sums[flow] = sum;
                }

                sum.Add(agg);
            }
        }

        if (covered <= 0)
        {
            return null;
        }

        var rates = new Dictionary<FlowKey, FlowAggregate>(sums.Count);
        foreach (var (flow, sum) in sums)
        {
            rates[flow] = sum.Scaled(1 / covered);
        }

        return rates;
    }

    /// <summary>The time of the latest round, or null before the first.</summary>
    public DateTimeOffset? Latest
    {
        get
        {
            var slots = Volatile.Read(ref _slots);
            return slots.Length == 0 ? null : slots[^1].Time;
        }
    }

    /// <summary>The time of the oldest round kept, or null before the first.</summary>
    public DateTimeOffset? Oldest
    {
        get
        {
            var slots = Volatile.Read(ref _slots);
            return slots.Length == 0 ? null : slots[0].Time - slots[0].Covered;
        }
    }

    private sealed record Slot(DateTimeOffset Time, TimeSpan Covered, IReadOnlyDictionary<FlowKey, FlowAggregate> Flows);
}
