namespace Skein.ControlPlane.Xds;

/// <summary>
/// Coalesces bursts of changes into one push: fires once the changes have been quiet for
/// <c>quiet</c>, or <c>max</c> after the first pending change, whichever comes first (Istio's debounce).
/// </summary>
internal sealed class PushDebouncer : IDisposable
{
    private readonly TimeSpan _quiet;
    private readonly TimeSpan _max;
    private readonly TimeProvider _time;
    private readonly Action _fire;
    private readonly SemaphoreSlim _signal = new(0, int.MaxValue);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _lastChange;

    public PushDebouncer(TimeSpan quiet, TimeSpan max, TimeProvider time, Action fire)
    {
        _quiet = quiet;
        _max = max;
        _time = time;
        _fire = fire;
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>How many pushes have fired.</summary>
    public int Fired => Volatile.Read(ref _fired);

    private int _fired;

    public void Notify()
    {
        Volatile.Write(ref _lastChange, _time.GetTimestamp());
        _signal.Release();
    }

    private async Task LoopAsync()
    {
        var token = _stop.Token;
        try
        {
            while (true)
            {
                await _signal.WaitAsync(token);
                var first = _time.GetTimestamp();
                while (true)
                {
                    var sinceLast = _time.GetElapsedTime(Volatile.Read(ref _lastChange));
                    var sinceFirst = _time.GetElapsedTime(first);
                    if (sinceLast >= _quiet || sinceFirst >= _max)
                    {
                        break;
                    }

                    var wait = TimeSpan.FromTicks(Math.Min((_quiet - sinceLast).Ticks, (_max - sinceFirst).Ticks));
                    await Task.Delay(wait, _time, token);
                }

                // Changes that arrived while waiting are part of this push.
                while (_signal.CurrentCount > 0)
                {
                    await _signal.WaitAsync(token);
                }

                Interlocked.Increment(ref _fired);
                _fire();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
        _signal.Dispose();
    }
}
