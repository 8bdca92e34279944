namespace Skein.ControlPlane.Tracing;

/// <summary>A trace as the list shows it.</summary>
internal sealed record TraceSummary(
    string TraceId,
    string RootName,
    string RootService,
    long StartUnixNano,
    double DurationMs,
    int SpanCount,
    IReadOnlyList<string> Services,
    bool Error);

/// <summary>A span placed in its trace's tree: depth below its root, in depth-first order by start time.</summary>
internal sealed record TreeSpan(SpanRecord Span, int Depth, bool Orphan);

/// <summary>
/// The receiver's memory: the most recent traces (by the time their last span arrived), at most
/// <c>maxTraces</c> and at most <c>maxSpansPerTrace</c> spans each, so memory stays bounded whatever proxies
/// send. Spans of one trace arrive from several proxies in separate exports; they are joined by trace id, and a
/// span sent twice (a retried export) is kept once.
/// </summary>
internal sealed class TraceStore(int maxTraces, int maxSpansPerTrace = 1000)
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Entry> _traces = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _recency = new();
    private long _received;
    private long _dropped;

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _traces.Count;
            }
        }
    }

    public long SpansReceived => Interlocked.Read(ref _received);

    public long SpansDropped => Interlocked.Read(ref _dropped);

    public void Add(IReadOnlyList<SpanRecord> spans)
    {
        Interlocked.Add(ref _received, spans.Count);
        lock (_gate)
        {
            foreach (var span in spans)
            {
                if (!_traces.TryGetValue(span.TraceId, out var entry))
                {
                    entry = new Entry(span.TraceId);
                    entry.Node = _recency.AddLast(entry);
                    _traces[span.TraceId] = entry;
                }
                else
                {
                    _recency.Remove(entry.Node!);
                    _recency.AddLast(entry.Node!);
                }

                if (entry.Spans.Count >= maxSpansPerTrace || !entry.Ids.Add(span.SpanId))
                {
                    Interlocked.Increment(ref _dropped);
                    continue;
                }

                entry.Spans.Add(span);
            }

            while (_traces.Count > maxTraces && _recency.First is { } oldest)
            {
                _recency.RemoveFirst();
                _traces.Remove(oldest.Value.TraceId);
            }
        }
    }

    /// <summary>The spans of a trace (a copy), or null when it is not (or no longer) kept.</summary>
    public IReadOnlyList<SpanRecord>? Get(string traceId)
    {
        lock (_gate)
        {
            return _traces.TryGetValue(traceId.ToLowerInvariant(), out var entry) ? [.. entry.Spans] : null;
        }
    }

    /// <summary>The most recent traces first, optionally only those that involve <paramref name="service"/>.</summary>
    public IReadOnlyList<TraceSummary> Recent(int limit, string? service = null, double minDurationMs = 0)
    {
        List<SpanRecord[]> candidates;
        lock (_gate)
        {
            candidates = new List<SpanRecord[]>(Math.Min(_traces.Count, 4096));
            for (var node = _recency.Last; node is not null && candidates.Count < 4096; node = node.Previous)
            {
                candidates.Add([.. node.Value.Spans]);
            }
        }

        var result = new List<TraceSummary>();
        foreach (var spans in candidates)
        {
            var summary = Summarize(spans);
            if ((service is null || summary.Services.Contains(service, StringComparer.Ordinal)) && summary.DurationMs >= minDurationMs)
            {
                result.Add(summary);
                if (result.Count >= limit)
                {
                    break;
                }
            }
        }

        return result;
    }

    public static TraceSummary Summarize(IReadOnlyList<SpanRecord> spans)
    {
        var tree = Tree(spans);
        var root = tree.Count > 0 ? tree[0].Span : spans[0];
        var start = spans.Min(s => s.StartUnixNano);
        var end = spans.Max(s => s.EndUnixNano);
        return new TraceSummary(
            root.TraceId,
            root.Name,
            root.Service,
            start,
            Math.Max(0, end - start) / 1e6,
            spans.Count,
            [.. spans.Select(s => s.Service).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
            spans.Any(s => s.IsError));
    }

    /// <summary>
    /// The spans as a tree in depth-first order: children under their parent by start time. A span whose parent
    /// never arrived (not sampled there, or still on its way) starts a tree of its own and is marked orphan;
    /// roots come by start time. Cycles (corrupt ids) cannot loop: each span is placed once.
    /// </summary>
    public static IReadOnlyList<TreeSpan> Tree(IReadOnlyList<SpanRecord> spans)
    {
        var byId = new Dictionary<string, SpanRecord>(StringComparer.Ordinal);
        foreach (var s in spans)
        {
            byId.TryAdd(s.SpanId, s);
        }

        var children = new Dictionary<string, List<SpanRecord>>(StringComparer.Ordinal);
        var roots = new List<SpanRecord>();
        foreach (var s in byId.Values)
        {
            if (s.ParentSpanId.Length > 0 && s.ParentSpanId != s.SpanId && byId.ContainsKey(s.ParentSpanId))
            {
                if (!children.TryGetValue(s.ParentSpanId, out var list))
                {
                    list = [];
                    children[s.ParentSpanId] = list;
                }

                list.Add(s);
            }
            else
            {
                roots.Add(s);
            }
        }

        // A true root (no parent id) goes before spans whose parent is missing.
        roots.Sort((a, b) => (a.ParentSpanId.Length > 0).CompareTo(b.ParentSpanId.Length > 0) is var c && c != 0 ? c : a.StartUnixNano.CompareTo(b.StartUnixNano));
        var ordered = new List<TreeSpan>(byId.Count);
        var placed = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<(SpanRecord Span, int Depth, bool Orphan)>();
        for (var i = roots.Count - 1; i >= 0; i--)
        {
            stack.Push((roots[i], 0, roots[i].ParentSpanId.Length > 0));
        }

        while (stack.Count > 0)
        {
            var (span, depth, orphan) = stack.Pop();
            if (!placed.Add(span.SpanId))
            {
                continue;
            }

            ordered.Add(new TreeSpan(span, depth, orphan));
            if (children.TryGetValue(span.SpanId, out var kids))
            {
                kids.Sort((a, b) => a.StartUnixNano.CompareTo(b.StartUnixNano));
                for (var i = kids.Count - 1; i >= 0; i--)
                {
                    stack.Push((kids[i], depth + 1, false));
                }
            }
        }

        // Spans only reachable through a cycle were never placed: list them as roots.
        foreach (var s in byId.Values)
        {
            if (placed.Add(s.SpanId))
            {
                ordered.Add(new TreeSpan(s, 0, true));
            }
        }

        return ordered;
    }

    private sealed class Entry(string traceId)
    {
        public string TraceId { get; } = traceId;

        public List<SpanRecord> Spans { get; } = [];

        public HashSet<string> Ids { get; } = new(StringComparer.Ordinal);

        public LinkedListNode<Entry>? Node { get; set; }
    }
}
