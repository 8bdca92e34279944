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

    public ClusterRuntime(Cluster proto, ClusterSettings settings, ILoadBalancer balancer, IUpstreamClientFactory clients)
    {
        Proto = proto;
        Settings = settings;
        Balancer = balancer;
        _http = new Lazy<HttpMessageInvoker>(() => clients.Create(settings), LazyThreadSafetyMode.ExecutionAndPublication);
    }

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

    public void CountConnectFailure() => Interlocked.Increment(ref _connectFailures);

    public void CountTimeout() => Interlocked.Increment(ref _timeouts);

    /// <summary>Marks the cluster as gone from config; its pool is disposed once no request holds it (after a grace period).</summary>
    public void Retire(TimeProvider time)
    {
        if (Interlocked.Exchange(ref _retired, 1) != 0)
        {
            return;
        }

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
