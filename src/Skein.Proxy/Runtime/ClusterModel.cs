using System.Collections.Frozen;
using System.Collections.Immutable;
using Skein.Proxy.Tls;

namespace Skein.Proxy.Runtime;

/// <summary>How a cluster finds its endpoints.</summary>
internal enum DiscoveryKind
{
    Static,
    StrictDns,
    LogicalDns,
    Eds,
    OriginalDestination,
}

/// <summary>Which HTTP version the proxy speaks to a cluster's endpoints.</summary>
internal enum UpstreamProtocol
{
    Http1,
    Http2,
    UseDownstream,
}

/// <summary>The upstream HTTP settings of a cluster (<c>HttpProtocolOptions</c>).</summary>
internal sealed record UpstreamHttpSettings(
    UpstreamProtocol Protocol,
    TimeSpan? IdleTimeout,
    int? MaxRequestsPerConnection,
    int? MaxConcurrentStreams,
    TimeSpan? MaxConnectionDuration)
{
    public static UpstreamHttpSettings Default { get; } = new(UpstreamProtocol.Http1, null, null, null, null);
}

/// <summary>Circuit breaker thresholds (Envoy defaults: 1024 each, 3 retries).</summary>
internal sealed record CircuitBreakerSettings(int MaxConnections, int MaxPendingRequests, int MaxRequests, int MaxRetries)
{
    public static CircuitBreakerSettings Default { get; } = new(1024, 1024, 1024, 3);

    /// <summary>When set, limits concurrent retries instead of <see cref="MaxRetries"/>.</summary>
    public RetryBudgetSettings? RetryBudget { get; init; }
}

/// <summary>
/// Envoy's retry budget: concurrent retries may be at most <see cref="BudgetPercent"/> of the active and pending
/// requests, but never fewer than <see cref="MinRetryConcurrency"/> (defaults 20% and 3).
/// </summary>
internal sealed record RetryBudgetSettings(double BudgetPercent, int MinRetryConcurrency);

/// <summary>Outlier detection settings (Envoy defaults where unset).</summary>
internal sealed record OutlierDetectionSettings(
    int Consecutive5xx,
    int ConsecutiveGatewayFailure,
    int ConsecutiveLocalOriginFailure,
    TimeSpan Interval,
    TimeSpan BaseEjectionTime,
    TimeSpan MaxEjectionTime,
    int MaxEjectionPercent,
    int EnforcingConsecutive5xx,
    int EnforcingConsecutiveGatewayFailure,
    bool SplitExternalLocalOriginErrors)
{
    /// <summary>Enforcement (%) of consecutive local origin failures; Envoy's default is 100.</summary>
    public int EnforcingConsecutiveLocalOriginFailure { get; init; } = 100;
}

/// <summary>Everything compiled from a <c>Cluster</c> resource (immutable).</summary>
internal sealed record ClusterSettings(
    string Name,
    DiscoveryKind Discovery,
    string EdsServiceName,
    string LbPolicy,
    int LeastRequestChoiceCount,
    TimeSpan ConnectTimeout,
    CircuitBreakerSettings CircuitBreakers,
    OutlierDetectionSettings? OutlierDetection,
    UpstreamTlsSettings? Tls,
    UpstreamHttpSettings Http,
    double HealthyPanicThresholdPercent,
    FrozenDictionary<string, string> MetadataLabels)
{
    /// <summary><c>common_lb_config.locality_weighted_lb_config</c>: pick a locality by its weight before a host.</summary>
    public bool LocalityWeighted { get; init; }
}

/// <summary>A cluster together with the endpoints it has in one snapshot.</summary>
internal sealed record ClusterEntry(ClusterRuntime Runtime, EndpointSet Endpoints)
{
    public string Name => Runtime.Settings.Name;
}

/// <summary>
/// The endpoints of a cluster in one snapshot, grouped by priority. What a balancer may pick changes with outlier
/// ejection, so the selectable view (<see cref="HostView"/>) is cached per ejection version of the cluster's
/// detector and recomputed only when an ejection changes.
/// </summary>
internal sealed class EndpointSet
{
    private readonly Resilience.OutlierDetector? _outlier;
    private HostView? _view;

    public EndpointSet(
        ImmutableArray<UpstreamEndpoint> all, double panicThresholdPercent, Resilience.OutlierDetector? outlier = null, bool localityWeighted = false)
    {
        All = all;
        PanicThresholdPercent = panicThresholdPercent;
        LocalityWeighted = localityWeighted;
        _outlier = outlier;
        var healthy = ImmutableArray.CreateBuilder<UpstreamEndpoint>();
        var priorities = new SortedDictionary<int, ImmutableArray<UpstreamEndpoint>.Builder>();
        foreach (var e in all)
        {
            if (e.IsHealthyInEds)
            {
                healthy.Add(e);
            }

            if (!priorities.TryGetValue(e.Priority, out var level))
            {
                level = ImmutableArray.CreateBuilder<UpstreamEndpoint>();
                priorities[e.Priority] = level;
            }

            level.Add(e);
        }

        Healthy = healthy.ToImmutable();
        var levels = ImmutableArray.CreateBuilder<ImmutableArray<UpstreamEndpoint>>(priorities.Count);
        foreach (var level in priorities.Values)
        {
            levels.Add(level.ToImmutable());
        }

        Priorities = levels.MoveToImmutable();
    }

    public static EndpointSet Empty { get; } = new([], 0);

    public ImmutableArray<UpstreamEndpoint> All { get; }

    /// <summary>Hosts EDS reports healthy (or unknown), ejected or not.</summary>
    public ImmutableArray<UpstreamEndpoint> Healthy { get; }

    /// <summary>Hosts by priority level, highest priority (lowest number) first.</summary>
    public ImmutableArray<ImmutableArray<UpstreamEndpoint>> Priorities { get; }

    public double PanicThresholdPercent { get; }

    /// <summary>Pick a locality by its weight (times its availability) before a host (<c>locality_weighted_lb_config</c>).</summary>
    public bool LocalityWeighted { get; }

    /// <summary>The current selectable view: EDS health, outlier ejection, priority loads and panic.</summary>
    public HostView View
    {
        get
        {
            var version = _outlier?.Version ?? 0;
            var view = Volatile.Read(ref _view);
            if (view is null || view.Version != version)
            {
                view = HostView.Compute(this, _outlier is null ? null : static e => e.Stats.IsEjected, version);
                Volatile.Write(ref _view, view);
            }

            return view;
        }
    }

    /// <summary>True when too few hosts are available and balancers use every host of a priority.</summary>
    public bool Panic => View.Panic;

    /// <summary>
    /// The hosts a balancer chooses from for one request: a priority level picked by the priority loads
    /// (<paramref name="roll"/> in [0, 100)), then its available hosts (all of them in panic).
    /// </summary>
    public ImmutableArray<UpstreamEndpoint> Choose(int roll, IRandomSource? random = null) => View.Choose(roll, random);
}

/// <summary>The selectable hosts of one locality within a priority level, with the cumulative effective weight up to it.</summary>
internal sealed record LocalityGroup(long CumulativeWeight, ImmutableArray<UpstreamEndpoint> Hosts);

/// <summary>
/// The hosts balancers may use right now, computed as Envoy does: per priority, health = available hosts as a
/// share of all (times the 1.4 overprovisioning factor, capped at 100); the priority loads spill over from
/// higher to lower priorities; when the normalized total health is below 100, a priority whose available share
/// is under the panic threshold uses all its hosts; with no available host at all, priority 0 in panic (or
/// nothing when the threshold is 0).
/// </summary>
internal sealed class HostView
{
    private const int OverprovisioningFactor = 140;

    private HostView(
        int version, ImmutableArray<ImmutableArray<UpstreamEndpoint>> levels, ImmutableArray<int> cumulativeLoads, bool panic, EndpointSet? localityWeighted = null)
    {
        Version = version;
        Levels = levels;
        CumulativeLoads = cumulativeLoads;
        Panic = panic;
        if (localityWeighted is { LocalityWeighted: true } set)
        {
            var builder = ImmutableArray.CreateBuilder<ImmutableArray<LocalityGroup>>(levels.Length);
            for (var p = 0; p < levels.Length; p++)
            {
                builder.Add(GroupByLocality(set.Priorities[p], levels[p]));
            }

            Localities = builder.MoveToImmutable();
        }
    }

    /// <summary>Per level, the localities to choose from by weight (default when the cluster is not locality weighted).</summary>
    public ImmutableArray<ImmutableArray<LocalityGroup>> Localities { get; }

    public int Version { get; }

    /// <summary>The selectable hosts per level (empty for a level that gets no load).</summary>
    public ImmutableArray<ImmutableArray<UpstreamEndpoint>> Levels { get; }

    /// <summary>Cumulative load per level, ending at 100 (or 0 when nothing is selectable).</summary>
    public ImmutableArray<int> CumulativeLoads { get; }

    public bool Panic { get; }

    public ImmutableArray<UpstreamEndpoint> Choose(int roll, IRandomSource? random = null)
    {
        for (var i = 0; i < Levels.Length; i++)
        {
            if (roll < CumulativeLoads[i])
            {
                return Localities.IsDefault || Localities[i].IsEmpty || random is null ? Levels[i] : PickLocality(Localities[i], random);
            }
        }

        return [];
    }

    private static ImmutableArray<UpstreamEndpoint> PickLocality(ImmutableArray<LocalityGroup> groups, IRandomSource random)
    {
        var total = groups[^1].CumulativeWeight;
        var roll = (long)(random.NextDouble() * total);
        foreach (var g in groups)
        {
            if (roll < g.CumulativeWeight)
            {
                return g.Hosts;
            }
        }

        return groups[^1].Hosts;
    }

    /// <summary>
    /// Envoy's locality weighted balancing: a locality's effective weight is its <c>load_balancing_weight</c> times
    /// its availability (selectable share × 1.4, capped at 1); localities with no weight get nothing.
    /// </summary>
    private static ImmutableArray<LocalityGroup> GroupByLocality(ImmutableArray<UpstreamEndpoint> all, ImmutableArray<UpstreamEndpoint> selectable)
    {
        var totals = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var h in all)
        {
            totals[h.Locality] = totals.GetValueOrDefault(h.Locality) + 1;
        }

        if (totals.Count <= 1)
        {
            return [];
        }

        var byLocality = new SortedDictionary<string, ImmutableArray<UpstreamEndpoint>.Builder>(StringComparer.Ordinal);
        foreach (var h in selectable)
        {
            if (!byLocality.TryGetValue(h.Locality, out var list))
            {
                byLocality[h.Locality] = list = ImmutableArray.CreateBuilder<UpstreamEndpoint>();
            }

            list.Add(h);
        }

        var groups = ImmutableArray.CreateBuilder<LocalityGroup>();
        long cumulative = 0;
        foreach (var (locality, list) in byLocality)
        {
            var availability = Math.Min(100, OverprovisioningFactor * list.Count / totals[locality]);
            var weight = (long)list[0].LocalityWeight * availability;
            if (weight > 0)
            {
                cumulative += weight;
                groups.Add(new LocalityGroup(cumulative, list.ToImmutable()));
            }
        }

        return groups.Count == 0 ? [] : groups.ToImmutable();
    }

    internal static HostView Compute(EndpointSet set, Func<UpstreamEndpoint, bool>? isEjected, int version)
    {
        var priorities = set.Priorities;
        var count = priorities.Length;
        if (count == 0)
        {
            return new HostView(version, [], [], false);
        }

        var available = new ImmutableArray<UpstreamEndpoint>[count];
        var health = new int[count];
        var total = 0;
        for (var p = 0; p < count; p++)
        {
            var builder = ImmutableArray.CreateBuilder<UpstreamEndpoint>();
            foreach (var e in priorities[p])
            {
                if (e.IsHealthyInEds && (isEjected is null || !isEjected(e)))
                {
                    builder.Add(e);
                }
            }

            available[p] = builder.ToImmutable();
            health[p] = Math.Min(100, OverprovisioningFactor * available[p].Length / Math.Max(1, priorities[p].Length));
            total += health[p];
        }

        var normalized = Math.Min(100, total);
        var levels = ImmutableArray.CreateBuilder<ImmutableArray<UpstreamEndpoint>>(count);
        var loads = ImmutableArray.CreateBuilder<int>(count);
        if (normalized == 0)
        {
            // Nothing available: Envoy sends everything to priority 0 in panic; a 0% threshold disables panic.
            var degraded = Degraded(priorities, isEjected);
            var fallback = set.PanicThresholdPercent > 0 ? priorities[0] : degraded;
            for (var p = 0; p < count; p++)
            {
                levels.Add(p == 0 ? fallback : []);
                loads.Add(p == 0 && !fallback.IsEmpty ? 100 : 0);
            }

            return new HostView(version, levels.MoveToImmutable(), loads.MoveToImmutable(), set.PanicThresholdPercent > 0, set);
        }

        var assigned = 0;
        var panic = false;
        var own = new int[count];
        for (var p = 0; p < count; p++)
        {
            own[p] = Math.Min(100 - assigned, health[p] * 100 / normalized);
            assigned += own[p];
        }

        // Rounding leaves a remainder: Envoy gives it to the first priority with any health.
        for (var p = 0; p < count && assigned < 100; p++)
        {
            if (health[p] > 0)
            {
                own[p] += 100 - assigned;
                assigned = 100;
            }
        }

        var cumulative = 0;
        for (var p = 0; p < count; p++)
        {
            var inPanic = normalized < 100 && set.PanicThresholdPercent > 0
                && available[p].Length * 100.0 / priorities[p].Length < set.PanicThresholdPercent;
            panic |= inPanic && own[p] > 0;
            levels.Add(inPanic ? priorities[p] : available[p]);
            cumulative += own[p];
            loads.Add(cumulative);
        }

        return new HostView(version, levels.MoveToImmutable(), loads.MoveToImmutable(), panic, set);
    }

    private static ImmutableArray<UpstreamEndpoint> Degraded(ImmutableArray<ImmutableArray<UpstreamEndpoint>> priorities, Func<UpstreamEndpoint, bool>? isEjected)
    {
        foreach (var level in priorities)
        {
            var builder = ImmutableArray.CreateBuilder<UpstreamEndpoint>();
            foreach (var e in level)
            {
                if (e.Health == EndpointHealth.Degraded && (isEjected is null || !isEjected(e)))
                {
                    builder.Add(e);
                }
            }

            if (builder.Count > 0)
            {
                return builder.ToImmutable();
            }
        }

        return [];
    }
}

/// <summary>Endpoint health as xDS reports it.</summary>
internal enum EndpointHealth
{
    Unknown,
    Healthy,
    Unhealthy,
    Draining,
    Timeout,
    Degraded,
}

/// <summary>One endpoint of a cluster in one snapshot. <see cref="Stats"/> survives config swaps.</summary>
internal sealed record UpstreamEndpoint(
    string Host,
    int Port,
    EndpointHealth Health,
    int Weight,
    string Locality,
    FrozenDictionary<string, string> Labels,
    EndpointStats Stats)
{
    /// <summary>The URI prefix requests to this endpoint go to, e.g. <c>http://10.0.0.1:9080</c> (built once).</summary>
    public required string HttpPrefix { get; init; }

    /// <summary><c>host:port</c> (IPv6 in brackets), built once.</summary>
    public required string Address { get; init; }

    /// <summary>The priority of the endpoint's <c>LocalityLbEndpoints</c> (0 is the highest).</summary>
    public int Priority { get; init; }

    /// <summary>The <c>load_balancing_weight</c> of the endpoint's locality (0 when unset).</summary>
    public int LocalityWeight { get; init; }

    /// <summary>Healthy or unknown in EDS (outlier ejection aside).</summary>
    public bool IsHealthyInEds => Health is EndpointHealth.Healthy or EndpointHealth.Unknown;
}

/// <summary>Per-endpoint counters, shared by every snapshot that contains the endpoint.</summary>
internal sealed class EndpointStats
{
    private long _active;
    private long _total;
    private long _errors;
    private long _connectFailures;
    private long _timeouts;

    public long ActiveRequests => Volatile.Read(ref _active);

    public long TotalRequests => Volatile.Read(ref _total);

    public long Errors => Volatile.Read(ref _errors);

    public long ConnectFailures => Volatile.Read(ref _connectFailures);

    public long Timeouts => Volatile.Read(ref _timeouts);

    public void RequestStarted()
    {
        Interlocked.Increment(ref _active);
        Interlocked.Increment(ref _total);
    }

    public void RequestFinished(bool error)
    {
        Interlocked.Decrement(ref _active);
        if (error)
        {
            Interlocked.Increment(ref _errors);
        }
    }

    public void ConnectFailed() => Interlocked.Increment(ref _connectFailures);

    public void TimedOut() => Interlocked.Increment(ref _timeouts);

    /// <summary>Outlier detection state of this host (kept across snapshots, like the counters).</summary>
    public Resilience.HostOutlierState Outlier { get; } = new();

    /// <summary>True while outlier detection has ejected the host.</summary>
    public bool IsEjected => Outlier.IsEjected;
}
