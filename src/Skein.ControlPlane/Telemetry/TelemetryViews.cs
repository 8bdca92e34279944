namespace Skein.ControlPlane.Telemetry;

/// <summary>The golden signals of a set of flows: rps, success rate, latency quantiles (ms) and TCP bytes per second.</summary>
internal sealed record FlowStats(double Rps, double? SuccessRate, double? P50, double? P95, double? P99, double TcpBytesPerSecond)
{
    public static FlowStats From(FlowAggregate rates)
    {
        double? Q(double q) => rates.Buckets.Quantile(q) is var v && double.IsFinite(v) ? v : null;
        var rps = rates.Requests;
        return new FlowStats(
            rps,
            rps > 0 ? 1 - Math.Clamp(rates.Errors / rps, 0, 1) : null,
            Q(0.5),
            Q(0.95),
            Q(0.99),
            rates.TcpSent + rates.TcpReceived);
    }

    public bool HasTraffic => Rps > 0 || TcpBytesPerSecond > 0;
}

/// <summary>A workload or service (namespace and name) known to the mesh, listed even without traffic.</summary>
internal sealed record MeshObject(string Name, string Namespace);

/// <summary>What the mesh has, so views list idle workloads and services too.</summary>
internal sealed record MeshInventory(IReadOnlyList<MeshObject> Workloads, IReadOnlyList<MeshObject> Services)
{
    public static MeshInventory Empty { get; } = new([], []);
}

internal sealed record StatRow(string Kind, string Name, string Namespace, FlowStats? Stats);

internal sealed record GraphNode(string Id, string Kind, string Name, string Namespace, FlowStats? Stats);

internal sealed record GraphEdge(string Source, string Target, FlowStats Stats);

internal sealed record Graph(IReadOnlyList<GraphNode> Nodes, IReadOnlyList<GraphEdge> Edges);

/// <summary>
/// The views over per-flow rates, the same whichever reader produced them.
/// <list type="bullet">
///   <item>A workload's numbers are its inbound traffic as its own sidecar saw it (<c>reporter="destination"</c>),
///         as <c>linkerd viz stat deploy</c> shows them.</item>
///   <item>A service's numbers are what its callers' sidecars saw (<c>reporter="source"</c>), so faults injected on
///         the way and failures to connect count; callers without a sidecar (source "unknown") are counted from
///         the destination's side.</item>
///   <item>The graph has two kinds of edges: caller workload → service (as for services) and service → workload
///         behind it (as for workloads: what reached that workload).</item>
/// </list>
/// </summary>
internal static class TelemetryViews
{
    private static readonly Dictionary<FlowKey, FlowAggregate> EmptyRates = [];

    public static string WorkloadId(string ns, string name) => $"workload:{ns}/{name}";

    public static string ServiceId(string ns, string name) => $"service:{ns}/{name}";

    public static IReadOnlyList<StatRow> Workloads(IReadOnlyDictionary<FlowKey, FlowAggregate>? rates, MeshInventory inventory)
    {
        var groups = Group(rates, f => f.Reporter == Reporter.Destination && f.DestinationWorkload != FlowKey.Unknown
            ? (f.DestinationNamespace, f.DestinationWorkload)
            : null);
        return Rows("workload", groups, inventory.Workloads);
    }

    public static IReadOnlyList<StatRow> Services(IReadOnlyDictionary<FlowKey, FlowAggregate>? rates, MeshInventory inventory)
    {
        var groups = Group(rates, f => SeenBySource(f) && f.DestinationServiceName != FlowKey.Unknown
            ? (f.DestinationServiceNamespace, f.DestinationServiceName)
            : null);
        return Rows("service", groups, inventory.Services);
    }

    public static Graph BuildGraph(IReadOnlyDictionary<FlowKey, FlowAggregate>? rates, MeshInventory inventory)
    {
        var nodes = new Dictionary<string, GraphNode>(StringComparer.Ordinal);
        foreach (var row in Workloads(rates, inventory))
        {
            nodes[WorkloadId(row.Namespace, row.Name)] = new GraphNode(WorkloadId(row.Namespace, row.Name), "workload", row.Name, row.Namespace, row.Stats);
        }

        foreach (var row in Services(rates, inventory))
        {
            nodes[ServiceId(row.Namespace, row.Name)] = new GraphNode(ServiceId(row.Namespace, row.Name), "service", row.Name, row.Namespace, row.Stats);
        }

        var edges = new Dictionary<(string, string), FlowAggregate>();
        foreach (var (flow, agg) in rates ?? EmptyRates)
        {
            if (flow.DestinationServiceName == FlowKey.Unknown)
            {
                continue;
            }

            var service = ServiceId(flow.DestinationServiceNamespace, flow.DestinationServiceName);
            if (SeenBySource(flow))
            {
                var source = flow.SourceWorkload == FlowKey.Unknown ? "unknown" : WorkloadId(flow.SourceNamespace, flow.SourceWorkload);
                Add(edges, (source, service), agg);
            }

            // What reached each workload behind the service, as the workload's own sidecar saw it.
            if (flow.Reporter == Reporter.Destination && flow.DestinationWorkload != FlowKey.Unknown)
            {
                Add(edges, (service, WorkloadId(flow.DestinationNamespace, flow.DestinationWorkload)), agg);
            }
        }

        foreach (var ((from, to), _) in edges)
        {
            foreach (var id in new[] { from, to })
            {
                if (!nodes.ContainsKey(id))
                {
                    var (kind, ns, name) = Split(id);
                    nodes[id] = new GraphNode(id, kind, name, ns, null);
                }
            }
        }

        return new Graph(
            [.. nodes.Values.OrderBy(n => n.Kind, StringComparer.Ordinal).ThenBy(n => n.Namespace, StringComparer.Ordinal).ThenBy(n => n.Name, StringComparer.Ordinal)],
            [.. edges.Select(e => new GraphEdge(e.Key.Item1, e.Key.Item2, FlowStats.From(e.Value))).OrderBy(e => e.Source, StringComparer.Ordinal).ThenBy(e => e.Target, StringComparer.Ordinal)]);
    }

    /// <summary>One point per rate sample for a workload (inbound) or a service (as callers saw it).</summary>
    public static IReadOnlyList<(DateTimeOffset Time, FlowStats Stats)> Series(IReadOnlyList<RatePoint> points, string kind, string name, string ns)
    {
        var list = new List<(DateTimeOffset, FlowStats)>(points.Count);
        foreach (var point in points)
        {
            var rows = kind == "service" ? Services(point.Rates, MeshInventory.Empty) : Workloads(point.Rates, MeshInventory.Empty);
            var row = rows.FirstOrDefault(r => r.Name == name && r.Namespace == ns);
            list.Add((point.Time, row?.Stats ?? new FlowStats(0, null, null, null, null, 0)));
        }

        return list;
    }

    /// <summary>The flows a service's numbers come from: its callers' sidecars, or the destination's for callers without one.</summary>
    private static bool SeenBySource(FlowKey f) =>
        f.Reporter == Reporter.Source || (f.Reporter == Reporter.Destination && f.SourceWorkload == FlowKey.Unknown);

    private static Dictionary<(string Ns, string Name), FlowAggregate> Group(IReadOnlyDictionary<FlowKey, FlowAggregate>? rates, Func<FlowKey, (string, string)?> key)
    {
        var groups = new Dictionary<(string, string), FlowAggregate>();
        foreach (var (flow, agg) in rates ?? EmptyRates)
        {
            if (key(flow) is { } k)
            {
                Add(groups, k, agg);
            }
        }

        return groups;
    }

    private static IReadOnlyList<StatRow> Rows(string kind, Dictionary<(string Ns, string Name), FlowAggregate> groups, IReadOnlyList<MeshObject> known)
    {
        var rows = groups.Select(g => new StatRow(kind, g.Key.Name, g.Key.Ns, FlowStats.From(g.Value))).ToList();
        foreach (var k in known)
        {
            if (!groups.ContainsKey((k.Namespace, k.Name)))
            {
                rows.Add(new StatRow(kind, k.Name, k.Namespace, null));
            }
        }

        return [.. rows.OrderBy(r => r.Namespace, StringComparer.Ordinal).ThenBy(r => r.Name, StringComparer.Ordinal)];
    }

    private static void Add<TKey>(Dictionary<TKey, FlowAggregate> into, TKey key, FlowAggregate agg)
        where TKey : notnull
    {
        if (!into.TryGetValue(key, out var sum))
        {
            sum = new FlowAggregate();
            into[key] = sum;
        }

        sum.Add(agg);
    }

    private static (string Kind, string Ns, string Name) Split(string id)
    {
        var colon = id.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return ("unknown", "", id);
        }

        var rest = id[(colon + 1)..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        return (id[..colon], rest[..slash], rest[(slash + 1)..]);
    }
}
