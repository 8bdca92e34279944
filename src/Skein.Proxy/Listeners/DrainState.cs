namespace Skein.Proxy.Listeners;

/// <summary>Whether the capture ports still take new connections (<c>/drain_listeners</c>, SIGTERM).</summary>
internal sealed class DrainState
{
    private int _draining;

    public bool IsDraining => Volatile.Read(ref _draining) != 0;

    public void Drain() => Volatile.Write(ref _draining, 1);
}
