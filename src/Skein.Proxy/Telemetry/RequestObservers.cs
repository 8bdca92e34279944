using System.Net;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.Telemetry;

/// <summary>
/// Called once per HTTP request when it completes, with the request's context (route, cluster, endpoint,
/// flags, status, timings, bytes, resolved telemetry labels). Metrics, access logs and the tap are observers.
/// Implementations must not block: queue work if it is slow.
/// </summary>
internal interface IRequestObserver
{
    void OnRequestCompleted(ProxyContext context);
}

/// <summary>Called for each opaque TCP connection: once connected upstream, and once when it closes.</summary>
internal interface IConnectionObserver
{
    void OnConnectionOpened(TcpConnectionRecord connection)
    {
    }

    void OnConnectionClosed(TcpConnectionRecord connection);
}

/// <summary>One relayed TCP connection, from the start of the relay to its close.</summary>
internal sealed class TcpConnectionRecord(DownstreamConnection info, string? cluster, EndPoint target, RuntimeConfig config)
{
    public DownstreamConnection Info => info;

    /// <summary>The cluster the relay goes to (<c>PassthroughCluster</c> for unknown destinations).</summary>
    public string? Cluster => cluster;

    public EndPoint Target => target;

    /// <summary>The snapshot current when the relay started.</summary>
    public RuntimeConfig Config => config;

    /// <summary>True once the upstream connection succeeded.</summary>
    public bool Connected { get; set; }

    public TimeSpan Duration { get; set; }

    /// <summary>The endpoint of <paramref name="entry"/> the relay connected to, matched by address.</summary>
    public UpstreamEndpoint? FindEndpoint(ClusterEntry? entry)
    {
        if (entry is null || target is not IPEndPoint ip)
        {
            return null;
        }

        foreach (var e in entry.Endpoints.All)
        {
            if (e.Port == ip.Port && IPAddress.TryParse(e.Host, out var address) && address.Equals(ip.Address))
            {
                return e;
            }
        }

        return null;
    }
}

/// <summary>
/// All registered observers, called in registration order; an observer that throws does not stop the others.
/// <see cref="Telemetry"/> (when any telemetry is on) runs first at each step, so observers see resolved labels.
/// </summary>
internal sealed class RequestObservers(
    IEnumerable<IRequestObserver> requests, IEnumerable<IConnectionObserver> connections, ProxyTelemetry? telemetry = null, RuntimeConfigStore? store = null)
{
    private readonly IRequestObserver[] _requests = [.. requests];
    private readonly IConnectionObserver[] _connections = [.. connections];

    public ProxyTelemetry? Telemetry => telemetry;

    /// <summary>After routing, before the filters run: metadata exchange, request id, trace context.</summary>
    public void RequestStarted(ProxyContext context)
    {
        if (telemetry is null)
        {
            return;
        }

        try
        {
            telemetry.OnRequestStarted(context);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Telemetry must never fail a request.
        }
    }

    public void RequestCompleted(ProxyContext context)
    {
        if (telemetry is not null)
        {
            try
            {
                telemetry.OnRequestCompleted(context);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
            }
        }

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

    /// <summary>Starts the record of a TCP relay to <paramref name="target"/>.</summary>
    public TcpConnectionRecord ConnectionStarted(DownstreamConnection connection, string? cluster, EndPoint target) =>
        new(connection, cluster, target, store?.Current ?? RuntimeConfig.Empty);

    /// <summary>The relay's upstream connection succeeded.</summary>
    public void ConnectionEstablished(TcpConnectionRecord connection)
    {
        connection.Connected = true;
        foreach (var o in _connections)
        {
            try
            {
                o.OnConnectionOpened(connection);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
            }
        }
    }

    public void ConnectionClosed(TcpConnectionRecord connection)
    {
        foreach (var o in _connections)
        {
            try
            {
                o.OnConnectionClosed(connection);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Telemetry must never fail a connection.
            }
        }
    }
}
