using Skein.Proxy.LoadBalancing;
using Skein.Xds.Envoy.Config.Cluster.V3;

namespace Skein.Proxy.Runtime;

/// <summary>Creates the pooled HTTP client of a cluster (one <c>SocketsHttpHandler</c> per cluster).</summary>
internal interface IUpstreamClientFactory
{
    HttpMessageInvoker Create(ClusterSettings settings);
}

/// <summary>
/// The long-lived part of a cluster: its connection pool, load balancer state and counters. Kept across
/// config swaps while the cluster's resource is unchanged; retired (and disposed once idle) when it changes
/// or disappears. Requests hold a lease so that a retired pool outlives the requests still using it.
/// </summary>
internal sealed class ClusterRuntime
{
    private static readonly TimeSpan RetireGrace = TimeSpan.FromSeconds(5);

    private readonly Lazy<HttpMessageInvoker> _http;
    private long _leases;
    private int _retired;
    private int _graceOver;
    private int _disposed;
    private long _active;
    private long _total;
    private long _errors5xx;
    private long _overflow;
    private long _noHealthy;
    private long _connectFailures;
    private long _timeouts;
    private long _activeRetries;
    private long _retries;
    private long _retryOverflow;
    private long _retryLimitExceeded;
    private long _retrySuccess;
    private long _perTryTimeouts;

    public ClusterRuntime(
        Cluster proto, ClusterSettings settings, ILoadBalancer balancer, IUpstreamClientFactory clients, TimeProvider? time = null, IRandomSource? random = null)
    {
        Proto = proto;
        Settings = settings;
        Balancer = balancer;
        _http = new Lazy<HttpMessageInvoker>(() => clients.Create(settings), LazyThreadSafetyMode.ExecutionAndPublication);
        if (settings.OutlierDetection is { } od)
        {
            Outlier = new Resilience.OutlierDetector(od, time ?? TimeProvider.System, random ?? SystemRandomSource.Instance);
        }

        var cb = settings.CircuitBreakers;
        if (cb.MaxConnections < int.MaxValue && settings.Http.Protocol != UpstreamProtocol.Http2)
        {
            Pool = new Resilience.ConnectionPoolLimiter(Math.Max(1, cb.MaxConnections), Math.Max(0, cb.MaxPendingRequests));
        }
    }

    /// <summary>The cluster's outlier detector (null when <c>outlier_detection</c> is not set).</summary>
    public Resilience.OutlierDetector? Outlier { get; }

    /// <summary>HTTP/1 connection limits (<c>max_connections</c>, <c>max_pending_requests</c>); null when unlimited.</summary>
    public Resilience.ConnectionPoolLimiter? Pool { get; }

    public long ActiveRetries => Volatile.Read(ref _activeRetries);

    public long Retries => Volatile.Read(ref _retries);

    public long RetryOverflows => Volatile.Read(ref _retryOverflow);

    public long RetryLimitExceeded => Volatile.Read(ref _retryLimitExceeded);

    public long RetrySuccesses => Volatile.Read(ref _retrySuccess);

    public long PerTryTimeouts => Volatile.Read(ref _perTryTimeouts);

    /// <summary>
    /// Takes a retry slot: within the retry budget (a share of active and pending requests, at least its minimum)
    /// when one is configured, else within <c>max_retries</c>. False (counted as retry overflow) when full.
    /// </summary>
    public bool TryStartRetry()
    {
        var cb = Settings.CircuitBreakers;
        long limit = cb.MaxRetries;
        if (cb.RetryBudget is { } budget)
        {
            var base_ = ActiveRequests + (Pool?.Pending ?? 0);
            limit = Math.Max(budget.MinRetryConcurrency, (long)(budget.BudgetPercent / 100.0 * base_));
        }

        if (Interlocked.Increment(ref _activeRetries) > limit)
        {
            Interlocked.Decrement(ref _activeRetries);
            Interlocked.Increment(ref _retryOverflow);
            return false;
        }

        Interlocked.Increment(ref _retries);
        return true;
    }

    public void FinishRetry() => Interlocked.Decrement(ref _activeRetries);

    public void CountRetryLimitExceeded() => Interlocked.Increment(ref _retryLimitExceeded);

    public void CountRetrySuccess() => Interlocked.Increment(ref _retrySuccess);

    public void CountPerTryTimeout() => Interlocked.Increment(ref _perTryTimeouts);

    /// <summary>The xDS resource this cluster was compiled from (compared to decide reuse).</summary>
    public Cluster Proto { get; }

    public ClusterSettings Settings { get; }

    public ILoadBalancer Balancer { get; }

    /// <summary>The pooled HTTP client, created on first use.</summary>
    public HttpMessageInvoker Http => _http.Value;

    public long ActiveRequests => Volatile.Read(ref _active);

    public long TotalRequests => Volatile.Read(ref _total);

    public long Errors5xx => Volatile.Read(ref _errors5xx);

    public long Overflows => Volatile.Read(ref _overflow);

    public long NoHealthyUpstream => Volatile.Read(ref _noHealthy);

    public long ConnectFailures => Volatile.Read(ref _connectFailures);

    public long Timeouts => Volatile.Read(ref _timeouts);

    public bool IsRetired => Volatile.Read(ref _retired) != 0;

    /// <summary>Counts a request in; false (and nothing counted) when the <c>max_requests</c> breaker is open.</summary>
    public bool TryStartRequest()
    {
        if (Interlocked.Increment(ref _active) > Settings.CircuitBreakers.MaxRequests)
        {
            Interlocked.Decrement(ref _active);
            Interlocked.Increment(ref _overflow);
            return false;
        }

        Interlocked.Increment(ref _total);
        Interlocked.Increment(ref _leases);
        return true;
    }

    public void FinishRequest(int statusCode)
    {
        Interlocked.Decrement(ref _active);
        if (statusCode >= 500)
        {
            Interlocked.Increment(ref _errors5xx);
        }

        ReleaseLease();
    }

    /// <summary>Takes a lease without counting a request (TCP connections).</summary>
    public void Lease() => Interlocked.Increment(ref _leases);

    public void ReleaseLease()
    {
        if (Interlocked.Decrement(ref _leases) == 0 && Volatile.Read(ref _graceOver) != 0)
        {
            DisposeNow();
        }
    }

    public void CountNoHealthy() => Interlocked.Increment(ref _noHealthy);

    /// <summary>Counts a request refused by the connection pool (pending overflow) as an overflow.</summary>
    public void CountOverflow() => Interlocked.Increment(ref _overflow);

    public void CountConnectFailure() => Interlocked.Increment(ref _connectFailures);

    public void CountTimeout() => Interlocked.Increment(ref _timeouts);

    /// <summary>Marks the cluster as gone from config; its pool is disposed once no request holds it (after a grace period).</summary>
    public void Retire(TimeProvider time)
    {
        if (Interlocked.Exchange(ref _retired, 1) != 0)
        {
            return;
        }

        Outlier?.Dispose();

        // The grace period covers requests that read the previous snapshot but have not taken a lease yet.
        ITimer? timer = null;
        timer = time.CreateTimer(
            _ =>
            {
                Volatile.Write(ref _graceOver, 1);
                if (Volatile.Read(ref _leases) == 0)
                {
                    DisposeNow();
                }

                timer?.Dispose();
            },
            null,
            RetireGrace,
            Timeout.InfiniteTimeSpan);
    }

    private void DisposeNow()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && _http.IsValueCreated)
        {
            _http.Value.Dispose();
        }
    }
}
