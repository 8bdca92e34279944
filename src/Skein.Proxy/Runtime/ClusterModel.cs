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
}

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
    bool SplitExternalLocalOriginErrors);

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
    FrozenDictionary<string, string> MetadataLabels);

/// <summary>A cluster together with the endpoints it has in one snapshot.</summary>
internal sealed record ClusterEntry(ClusterRuntime Runtime, EndpointSet Endpoints)
{
    public string Name => Runtime.Settings.Name;
}

/// <summary>The endpoints of a cluster in one snapshot, with the healthy subset precomputed.</summary>
internal sealed class EndpointSet
{
    public EndpointSet(ImmutableArray<UpstreamEndpoint> all, double panicThresholdPercent)
    {
        All = all;
        var healthy = ImmutableArray.CreateBuilder<UpstreamEndpoint>();
        var degraded = ImmutableArray.CreateBuilder<UpstreamEndpoint>();
        foreach (var e in all)
        {
            if (e.Health is EndpointHealth.Healthy or EndpointHealth.Unknown)
            {
                healthy.Add(e);
            }
            else if (e.Health == EndpointHealth.Degraded)
            {
                degraded.Add(e);
            }
        }

        Healthy = healthy.ToImmutable();
        Degraded = degraded.ToImmutable();

        // Envoy's panic mode: below the threshold of healthy hosts, balance over all hosts.
        Panic = all.Length > 0 && panicThresholdPercent > 0 && Healthy.Length * 100.0 / all.Length < panicThresholdPercent;
        Selectable = Panic ? all : Healthy.Length > 0 ? Healthy : Degraded;
    }

    public static EndpointSet Empty { get; } = new([], 0);

    public ImmutableArray<UpstreamEndpoint> All { get; }

    public ImmutableArray<UpstreamEndpoint> Healthy { get; }

    public ImmutableArray<UpstreamEndpoint> Degraded { get; }

    /// <summary>True when too few hosts are healthy and the balancer uses every host.</summary>
    public bool Panic { get; }

    /// <summary>The hosts load balancers choose from.</summary>
    public ImmutableArray<UpstreamEndpoint> Selectable { get; }
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
}
