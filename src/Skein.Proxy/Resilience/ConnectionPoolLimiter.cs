namespace Skein.Proxy.Resilience;

/// <summary>What asking the pool for a connection gave.</summary>
internal enum PoolEntry
{
    /// <summary>A connection slot is held; release it when the attempt ends.</summary>
    Acquired,

    /// <summary>All connections are busy and the pending queue is full: 503 UO, at once.</summary>
    Overflow,

    /// <summary>The request gave up while pending (deadline or client gone).</summary>
    Canceled,
}

/// <summary>
/// Envoy's HTTP/1 connection pool limits for one cluster: at most <c>max_connections</c> requests hold a
/// connection (HTTP/1.1 carries one request at a time), at most <c>max_pending_requests</c> wait for one, and
/// anything beyond overflows immediately. Taking a free slot is one interlocked increment; waiting and handing a
/// slot to a waiter take a lock, which only happens when the pool is full.
/// </summary>
internal sealed class ConnectionPoolLimiter(int maxConnections, int maxPending)
{
    private readonly Lock _lock = new();
    private readonly LinkedList<TaskCompletionSource<bool>> _waiters = new();
    private int _busy;
    private int _waiting;
    private long _overflows;

    public int Busy => Volatile.Read(ref _busy);

    public int Pending => Volatile.Read(ref _waiting);

    public long Overflows => Interlocked.Read(ref _overflows);

    public ValueTask<PoolEntry> EnterAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _busy) <= maxConnections)
        {
            return ValueTask.FromResult(PoolEntry.Acquired);
        }

        Interlocked.Decrement(ref _busy);
        return EnterSlowAsync(cancellationToken);
    }

    public void Exit()
    {
        if (Volatile.Read(ref _waiting) == 0)
        {
            Interlocked.Decrement(ref _busy);
            if (Volatile.Read(ref _waiting) == 0)
            {
                return;
            }

            // A waiter queued while we released: hand it the slot if one is free now.
            lock (_lock)
            {
                if (_waiters.First is { } first && Volatile.Read(ref _busy) < maxConnections)
                {
                    Interlocked.Increment(ref _busy);
                    Grant(first);
                }
            }

            return;
        }

        lock (_lock)
        {
            if (_waiters.First is { } first)
            {
                Grant(first); // the slot passes to the waiter; busy stays the same
            }
            else
            {
                Interlocked.Decrement(ref _busy);
            }
        }
    }

    private async ValueTask<PoolEntry> EnterSlowAsync(CancellationToken cancellationToken)
    {
        LinkedListNode<TaskCompletionSource<bool>> node;
        lock (_lock)
        {
            if (Interlocked.Increment(ref _busy) <= maxConnections)
            {
                return PoolEntry.Acquired;
            }

            Interlocked.Decrement(ref _busy);
            if (_waiters.Count >= maxPending)
            {
                Interlocked.Increment(ref _overflows);
                return PoolEntry.Overflow;
            }

            node = _waiters.AddLast(new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously));
            Interlocked.Increment(ref _waiting);
        }

        await using (cancellationToken.UnsafeRegister(static s => ((TaskCompletionSource<bool>)s!).TrySetResult(false), node.Value).ConfigureAwait(false))
        {
            if (await node.Value.Task.ConfigureAwait(false))
            {
                return PoolEntry.Acquired;
            }
        }

        // Canceled before a slot came (a grant that lost the race already moved on to the next waiter).
        lock (_lock)
        {
            if (node.List is not null)
            {
                _waiters.Remove(node);
                Interlocked.Decrement(ref _waiting);
            }
        }

        return PoolEntry.Canceled;
    }

    private void Grant(LinkedListNode<TaskCompletionSource<bool>> node)
    {
        _waiters.Remove(node);
        Interlocked.Decrement(ref _waiting);
        if (!node.Value.TrySetResult(true))
        {
            // The waiter was canceled in the meantime; try the next one (or free the slot).
            if (_waiters.First is { } next)
            {
                Grant(next);
            }
            else
            {
                Interlocked.Decrement(ref _busy);
            }
        }
    }
}
