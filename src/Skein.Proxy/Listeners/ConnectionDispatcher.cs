using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;
using Skein.Proxy.LoadBalancing;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.Listeners;

/// <summary>
/// Kestrel connection middleware of the capture ports: finds the original destination, detects the protocol
/// on the first bytes (without consuming them), then hands HTTP/1.1 to Kestrel's HTTP stack, h2c to the
/// Http2 handoff endpoint, and everything else (TLS passthrough, opaque, server-first) to the TCP proxy.
/// </summary>
internal sealed partial class ConnectionDispatcher(
    ProxyOptions options,
    RuntimeConfigStore store,
    TcpProxyHandler tcp,
    HandoffTransportFactory handoff,
    IRandomSource random,
    DrainState drain,
    TimeProvider time,
    ILogger<ConnectionDispatcher> logger,
    Tls.TlsContexts tlsContexts)
{
    public const string Http2Endpoint = "h2c";
    private const int MaxPeekBytes = 64 * 1024;
    private static readonly TimeSpan CompletionTimeout = TimeSpan.FromSeconds(5);

    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware(ConnectionDispatcher dispatcher, ListenerRole role) =>
        next => connection => dispatcher.OnConnectionAsync(connection, next, role);

    /// <summary>Marks connections of the admin, stats and health ports with their role.</summary>
    public static Func<ConnectionDelegate, ConnectionDelegate> RoleOnly(ListenerRole role) =>
        next => connection =>
        {
            connection.Features.Set(new DownstreamConnection { ConnectionId = connection.ConnectionId, Role = role });
            return next(connection);
        };

    private async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next, ListenerRole role)
    {
        if (drain.IsDraining)
        {
            return; // draining: new connections are closed at once
        }

        var socket = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
        var info = new DownstreamConnection
        {
            ConnectionId = connection.ConnectionId,
            Role = role,
            RemoteEndPoint = Normalize(connection.RemoteEndPoint as IPEndPoint),
            LocalEndPoint = Normalize(connection.LocalEndPoint as IPEndPoint),
        };
        if (options.Mode == CaptureMode.Transparent && socket is not null)
        {
            info.OriginalDestination = Normalize(OriginalDestination.Get(socket));
        }

        if (info.OriginalDestination is null && role == ListenerRole.Inbound && options.AppPort > 0)
        {
            info.OriginalDestination = new IPEndPoint(IPAddress.Loopback, options.AppPort);
        }

        connection.Features.Set(info);
        var dst = info.OriginalDestination;
        var detection = dst is not null && options.OpaquePorts.Contains(dst.Port)
            ? new Detection(DetectedProtocol.Opaque, null, [])
            : await DetectAsync(connection.Transport.Input, dst is not null, connection.ConnectionClosed).ConfigureAwait(false);
        info.Protocol = detection.Protocol;
        info.TransportProtocol = detection.Protocol == DetectedProtocol.Tls ? "tls" : "raw_buffer";
        info.ServerName = detection.ServerName;
        info.ApplicationProtocols = detection.Alpn;

        var config = store.Current;
        var listener = dst is null ? null : ListenerSelector.SelectListener(config.Listeners, role, dst);
        var chain = listener is null ? null : ListenerSelector.SelectChain(listener, info, dst!);
        if (logger.IsEnabled(LogLevel.Debug))
        {
            Log.Accepted(logger, connection.ConnectionId, role, dst, detection.Protocol, listener?.Name, chain?.Name);
        }

        if (listener is not null && chain is null)
        {
            // As Envoy: a listener whose chains all refuse the connection closes it (plaintext to a STRICT mTLS port).
            Log.NoFilterChain(logger, connection.ConnectionId, listener.Name, info.TransportProtocol, info.RemoteEndPoint);
            return;
        }

        if (chain?.Tls is { } downstreamTls)
        {
            if (!await TerminateTlsAsync(connection, info, downstreamTls, chain.Handler is HttpConnectionManagerRuntime).ConfigureAwait(false))
            {
                return; // handshake refused (plaintext on a STRICT port, no or untrusted client certificate): closed
            }

            detection = detection with { Protocol = info.Protocol };
        }

        var isHttp = detection.Protocol is DetectedProtocol.Http1 or DetectedProtocol.Http2;
        if (isHttp && chain?.Handler is not TcpProxyRuntime)
        {
            if (detection.Protocol == DetectedProtocol.Http1)
            {
                await next(connection).ConfigureAwait(false);
            }
            else
            {
                await handoff.HandOffAsync(Http2Endpoint, connection).ConfigureAwait(false);
            }

            return;
        }

        if (chain?.Handler is HttpConnectionManagerRuntime)
        {
            // A TLS connection whose chain terminates TLS into HTTP: TLS termination arrives with mTLS.
            Log.TlsNotSupported(logger, connection.ConnectionId, listener!.Name);
            return;
        }

        if (chain is not null && !Authz.NetworkAuthorization.Allows(chain.NetworkRbac, info, logger))
        {
            return; // denied by network RBAC (AuthorizationPolicy on a TCP port): closed before connecting upstream
        }

        var (target, connectTimeout, idle) = TcpTarget(chain?.Handler as TcpProxyRuntime, dst, config, out var lease, out var clusterName, out var upstreamTls);
        if (target is null)
        {
            Log.NoDestination(logger, connection.ConnectionId, role);
            return;
        }

        try
        {
            await tcp.RelayAsync(connection, socket, info, target, clusterName, connectTimeout, idle, upstreamTls).ConfigureAwait(false);
        }
        finally
        {
            lease?.ReleaseLease();
        }
    }

    /// <summary>IPv4-mapped IPv6 addresses (dual-mode sockets) as plain IPv4.</summary>
    private static IPEndPoint? Normalize(IPEndPoint? ep) =>
        ep is not null && ep.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(ep.Address.MapToIPv4(), ep.Port) : ep;

    private (EndPoint? Target, TimeSpan ConnectTimeout, TimeSpan? Idle) TcpTarget(
        TcpProxyRuntime? proxy, IPEndPoint? dst, RuntimeConfig config, out ClusterRuntime? lease, out string clusterName, out Tls.UpstreamTlsSettings? upstreamTls)
    {
        lease = null;
        upstreamTls = null;
        clusterName = Routing.PassthroughRoute.ClusterName;
        if (proxy is null)
        {
            return (dst, TimeSpan.FromSeconds(10), TimeSpan.FromHours(1)); // passthrough (ALLOW_ANY)
        }

        var choice = proxy.Clusters[0];
        if (proxy.Clusters.Length > 1)
        {
            var roll = random.Next(proxy.TotalWeight);
            foreach (var c in proxy.Clusters)
            {
                roll -= c.Weight;
                if (roll < 0)
                {
                    choice = c;
                    break;
                }
            }
        }

        clusterName = choice.Name;
        var cluster = choice.Target ?? config.Clusters.GetValueOrDefault(choice.Name);
        if (cluster is null)
        {
            return (null, default, null);
        }

        var settings = cluster.Runtime.Settings;
        upstreamTls = settings.Tls;
        if (settings.Discovery == DiscoveryKind.OriginalDestination)
        {
            return (dst, settings.ConnectTimeout, proxy.IdleTimeout);
        }

        var endpoint = cluster.Runtime.Balancer.Pick(cluster.Endpoints, null);
        if (endpoint is null)
        {
            cluster.Runtime.CountNoHealthy();
            return (null, default, null);
        }

        cluster.Runtime.Lease();
        lease = cluster.Runtime;
        EndPoint target = IPAddress.TryParse(endpoint.Host, out var ip) ? new IPEndPoint(ip, endpoint.Port) : new DnsEndPoint(endpoint.Host, endpoint.Port);
        return (target, settings.ConnectTimeout, proxy.IdleTimeout);
    }

    /// <summary>
    /// Peeks until the protocol is known. The detection timeout is for server-first protocols: it runs until the
    /// first byte arrives, and only when there is a destination to relay to (explicit mode has none for opaque
    /// traffic, so it just waits for the client). Once bytes arrive, completing a ClientHello or a request line
    /// gets <see cref="CompletionTimeout"/>.
    /// </summary>
    private async ValueTask<Detection> DetectAsync(PipeReader input, bool hasDestination, CancellationToken closed)
    {
        using var timeout = new CancellationTokenSource(hasDestination ? options.DetectionTimeout : CompletionTimeout, time);
        using var closedRegistration = closed.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), timeout);
        var sawBytes = false;
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Nothing (or not enough) in time: a server-first protocol, or bytes that are no known protocol.
                return new Detection(DetectedProtocol.Opaque, null, []);
            }

            var buffer = result.Buffer;
            var detection = ProtocolDetector.Detect(buffer);
            if (detection is null && !result.IsCompleted && buffer.Length < MaxPeekBytes)
            {
                if (!sawBytes && !buffer.IsEmpty)
                {
                    sawBytes = true;
                    timeout.CancelAfter(CompletionTimeout);
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            input.AdvanceTo(buffer.Start); // leave every byte for whoever handles the connection
            return detection ?? new Detection(DetectedProtocol.Opaque, null, []);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Debug,
            Message = "Connection {ConnectionId} on {Role}: destination {Destination}, {Protocol}, listener {Listener}, chain {Chain}")]
        public static partial void Accepted(
            ILogger logger, string connectionId, ListenerRole role, IPEndPoint? destination, DetectedProtocol protocol, string? listener, string? chain);

        [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Connection {ConnectionId}: listener {Listener} terminates TLS, which is not supported yet; closing")]
        public static partial void TlsNotSupported(ILogger logger, string connectionId, string listener);

        [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "Connection {ConnectionId} on {Role}: no destination for opaque traffic; closing")]
        public static partial void NoDestination(ILogger logger, string connectionId, ListenerRole role);
    }
}
