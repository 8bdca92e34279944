using System.Collections.Immutable;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.Resilience;

/// <summary>What one upstream attempt told outlier detection.</summary>
internal enum AttemptOrigin
{
    /// <summary>The connection worked (only counted in split mode, where it resets the local origin counter).</summary>
    ConnectSuccess,

    /// <summary>Connect failure or reset by the upstream (a local origin error; 503 when errors are not split).</summary>
    ConnectFailed,

    /// <summary>The attempt timed out (a local origin error; 504 when errors are not split).</summary>
    Timeout,
}

/// <summary>One host's outlier detection state; lives in <see cref="EndpointStats"/> so it survives config swaps.</summary>
internal sealed class HostOutlierState
{
    internal int Consecutive5xx;
    internal int ConsecutiveGatewayFailure;
    internal int ConsecutiveLocalOriginFailure;
    private int _ejected;

    public bool IsEjected => Volatile.Read(ref _ejected) != 0;

    /// <summary>How many times the host was ejected in total.</summary>
    public int NumEjections { get; internal set; }

    /// <summary>The ejection time multiplier (Envoy's ejectTimeBackoff): grows with each ejection, decays while healthy.</summary>
    internal int Backoff { get; set; }

    internal long LastEjection { get; set; }

    internal long LastUnejection { get; set; }

    internal void SetEjected(bool value) => Volatile.Write(ref _ejected, value ? 1 : 0);

    internal void ResetCounters()
    {
        Volatile.Write(ref Consecutive5xx, 0);
        Volatile.Write(ref ConsecutiveGatewayFailure, 0);
        Volatile.Write(ref ConsecutiveLocalOriginFailure, 0);
    }
}

/// <summary>
/// Envoy's outlier detection for one cluster: consecutive 5xx, consecutive gateway failures (502/503/504) and,
/// with <c>split_external_local_origin_errors</c>, consecutive local origin failures (connect failures, resets,
/// timeouts). Counting is lock-free on the request path; ejecting takes a lock (rare). Ejection lasts
/// <c>base_ejection_time</c> times the host's backoff multiplier (capped at <c>max_ejection_time</c>); the
/// multiplier grows by one per ejection and shrinks by one per interval the host stays healthy. Hosts come back
/// on the interval timer, as in Envoy. <c>max_ejection_percent</c> caps how many hosts may be out at once.
/// Every change bumps <see cref="Version"/>, which load balancing views are cached against.
/// </summary>
internal sealed class OutlierDetector : IDisposable
{
    private readonly OutlierDetectionSettings _settings;
    private readonly TimeProvider _time;
    private readonly IRandomSource _random;
    private readonly Lock _lock = new();
    private readonly ITimer _timer;
    private ImmutableArray<UpstreamEndpoint> _hosts = [];
    private int _version;
    private int _ejected;
    private long _ejectionsEnforced;
    private long _ejectionsOverflow;
    private long _ejectionsDetected;

    public OutlierDetector(OutlierDetectionSettings settings, TimeProvider time, IRandomSource random)
    {
        _settings = settings;
        _time = time;
        _random = random;
        var interval = settings.Interval > TimeSpan.Zero ? settings.Interval : TimeSpan.FromSeconds(10);
        _timer = time.CreateTimer(static s => ((OutlierDetector)s!).OnInterval(), this, interval, interval);
    }

    public OutlierDetectionSettings Settings => _settings;

    /// <summary>Changes whenever a host is ejected or returns.</summary>
    public int Version => Volatile.Read(ref _version);

    public int EjectionsActive => Volatile.Read(ref _ejected);

    public long EjectionsEnforced => Interlocked.Read(ref _ejectionsEnforced);

    public long EjectionsOverflow => Interlocked.Read(ref _ejectionsOverflow);

    public long EjectionsDetected => Interlocked.Read(ref _ejectionsDetected);

    /// <summary>The hosts of the snapshot now in service (the base of <c>max_ejection_percent</c>).</summary>
    public void SetHosts(ImmutableArray<UpstreamEndpoint> hosts)
    {
        lock (_lock)
        {
            _hosts = hosts;
            var ejected = 0;
            foreach (var h in hosts)
            {
                ejected += h.Stats.Outlier.IsEjected ? 1 : 0;
            }

            _ejected = ejected;
            Interlocked.Increment(ref _version);
        }
    }

    /// <summary>Records an HTTP status from the host (also what non-split mode maps local origin errors to).</summary>
    public void ReportStatus(UpstreamEndpoint host, int status)
    {
        var state = host.Stats.Outlier;
        if (status >= 500)
        {
            if (status is 502 or 503 or 504)
            {
                if (Interlocked.Increment(ref state.ConsecutiveGatewayFailure) == _settings.ConsecutiveGatewayFailure)
                {
                    OnConsecutive(host, EjectionKind.GatewayFailure);
                }
            }
            else
            {
                Volatile.Write(ref state.ConsecutiveGatewayFailure, 0);
            }

            if (Interlocked.Increment(ref state.Consecutive5xx) == _settings.Consecutive5xx)
            {
                OnConsecutive(host, EjectionKind.Consecutive5xx);
            }
        }
        else
        {
            Volatile.Write(ref state.Consecutive5xx, 0);
            Volatile.Write(ref state.ConsecutiveGatewayFailure, 0);
        }
    }

    /// <summary>Records a locally originated result: counted separately in split mode, else as 503 or 504.</summary>
    public void ReportLocalOrigin(UpstreamEndpoint host, AttemptOrigin origin)
    {
        if (!_settings.SplitExternalLocalOriginErrors)
        {
            if (origin != AttemptOrigin.ConnectSuccess)
            {
                ReportStatus(host, origin == AttemptOrigin.Timeout ? 504 : 503);
            }

            return;
        }

        var state = host.Stats.Outlier;
        if (origin == AttemptOrigin.ConnectSuccess)
        {
            Volatile.Write(ref state.ConsecutiveLocalOriginFailure, 0);
        }
        else if (Interlocked.Increment(ref state.ConsecutiveLocalOriginFailure) == _settings.ConsecutiveLocalOriginFailure)
        {
            OnConsecutive(host, EjectionKind.LocalOriginFailure);
        }
    }

    public void Dispose() => _timer.Dispose();

    private void OnConsecutive(UpstreamEndpoint host, EjectionKind kind)
    {
        var state = host.Stats.Outlier;
        lock (_lock)
        {
            if (state.IsEjected)
            {
                return;
            }

            Interlocked.Increment(ref _ejectionsDetected);
            var enforcing = kind switch
            {
                EjectionKind.Consecutive5xx => _settings.EnforcingConsecutive5xx,
                EjectionKind.GatewayFailure => _settings.EnforcingConsecutiveGatewayFailure,
                _ => _settings.EnforcingConsecutiveLocalOriginFailure,
            };
            var total = Math.Max(1, _hosts.IsEmpty ? 1 : _hosts.Length);
            var percent = 100.0 * (_ejected + 1) / total;
            if (percent > Math.Min(100, _settings.MaxEjectionPercent))
            {
                Interlocked.Increment(ref _ejectionsOverflow);
            }
            else if (enforcing >= 100 || (enforcing > 0 && _random.Next(100) < enforcing))
            {
                var baseTime = _settings.BaseEjectionTime;
                state.SetEjected(true);
                state.NumEjections++;
                state.LastEjection = _time.GetTimestamp();
                if (baseTime * state.Backoff < MaxEjectionTime + baseTime)
                {
                    state.Backoff++;
                }

                _ejected++;
                Interlocked.Increment(ref _ejectionsEnforced);
                Interlocked.Increment(ref _version);
            }

            // The counter that fired starts over, so a fresh bout of errors is needed to fire again.
            switch (kind)
            {
                case EjectionKind.Consecutive5xx:
                    Volatile.Write(ref state.Consecutive5xx, 0);
                    break;
                case EjectionKind.GatewayFailure:
                    Volatile.Write(ref state.ConsecutiveGatewayFailure, 0);
                    break;
                default:
                    Volatile.Write(ref state.ConsecutiveLocalOriginFailure, 0);
                    break;
            }
        }
    }

    /// <summary>Envoy's max_ejection_time: 300 s, or the base time when that is larger.</summary>
    private TimeSpan MaxEjectionTime => _settings.MaxEjectionTime >= _settings.BaseEjectionTime ? _settings.MaxEjectionTime : _settings.BaseEjectionTime;

    private void OnInterval()
    {
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            var changed = false;
            foreach (var host in _hosts)
            {
                var state = host.Stats.Outlier;
                if (state.IsEjected)
                {
                    var ejectedFor = _time.GetElapsedTime(state.LastEjection, now);
                    var duration = _settings.BaseEjectionTime * state.Backoff;
                    if (duration > MaxEjectionTime)
                    {
                        duration = MaxEjectionTime;
                    }

                    if (ejectedFor >= duration)
                    {
                        state.SetEjected(false);
                        state.ResetCounters();
                        state.LastUnejection = now;
                        _ejected = Math.Max(0, _ejected - 1);
                        changed = true;
                    }
                }
                else if (state.LastUnejection != 0 && state.Backoff > 0
                    && _time.GetElapsedTime(state.LastUnejection, now) >= _settings.Interval)
                {
                    // Healthy for a whole interval since it came back: the next ejection is shorter again.
                    state.Backoff--;
                }
            }

            if (changed)
            {
                Interlocked.Increment(ref _version);
            }
        }
    }

    private enum EjectionKind
    {
        Consecutive5xx,
        GatewayFailure,
        LocalOriginFailure,
    }
}
