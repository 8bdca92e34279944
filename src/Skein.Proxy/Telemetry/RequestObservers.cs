using Skein.Proxy.Protocol;

namespace Skein.Proxy.Telemetry;

/// <summary>
/// Called once per HTTP request when it completes, with the request's context (route, cluster, endpoint,
/// flags, status, timings, bytes). Metrics, access logs and traces are observers.
/// Implementations must not block: queue work if it is slow.
/// </summary>
internal interface IRequestObserver
{
    void OnRequestCompleted(ProxyContext context);
}

/// <summary>Called once per opaque TCP connection when it closes.</summary>
internal interface IConnectionObserver
{
    void OnConnectionClosed(DownstreamConnection connection, string? cluster, TimeSpan duration);
}

/// <summary>All registered observers, called in registration order; an observer that throws does not stop the others.</summary>
internal sealed class RequestObservers(IEnumerable<IRequestObserver> requests, IEnumerable<IConnectionObserver> connections)
{
    private readonly IRequestObserver[] _requests = [.. requests];
    private readonly IConnectionObserver[] _connections = [.. connections];

    public void RequestCompleted(ProxyContext context)
    {
        foreach (var o in _requests)
        {
            try
            {
                o.OnRequestCompleted(context);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Telemetry must never fail a request.
            }
        }
    }

    public void ConnectionClosed(DownstreamConnection connection, string? cluster, TimeSpan duration)
    {
        foreach (var o in _connections)
        {
            try
            {
                o.OnConnectionClosed(connection, cluster, duration);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Telemetry must never fail a connection.
            }
        }
    }
}
