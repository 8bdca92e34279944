using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;
using Skein.Proxy.Tls;

namespace Skein.Proxy.Listeners;

/// <summary>
/// TLS termination for filter chains with a <c>DownstreamTlsContext</c> (mTLS on 15006): handshake with the
/// proxy's certificate, client certificate checked against the trust bundle, the peer's SPIFFE id and the SNI put
/// on the connection, then the plaintext goes where a plaintext connection would: HTTP/1.1 into Kestrel's HTTP
/// stack, h2 (by ALPN or preface) to the Http2 handoff endpoint, anything else to the TCP relay.
/// </summary>
internal sealed partial class ConnectionDispatcher
{
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Terminates TLS on <paramref name="connection"/>; afterwards <c>connection.Transport</c> carries plaintext and
    /// <paramref name="info"/> says what it is (detected only for HTTP chains: a TCP chain relays whatever comes, even
    /// a server-first protocol). False when the handshake failed: the connection is to be closed.
    /// </summary>
    private async Task<bool> TerminateTlsAsync(ConnectionContext connection, DownstreamConnection info, DownstreamTlsSettings settings, bool http)
    {
        string? refused = null;
        SslServerAuthenticationOptions options;
        try
        {
            options = tlsContexts.Server(settings, error => refused = error);
        }
        catch (TlsSetupException e)
        {
            Log.TlsUnavailable(logger, connection.ConnectionId, e.Message);
            return false;
        }

        var ssl = new SslStream(new DuplexPipeStream(connection.Transport), leaveInnerStreamOpen: false);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
            timeout.CancelAfter(HandshakeTimeout);
            await ssl.AuthenticateAsServerAsync(options, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException or ConnectionResetException)
        {
            // Plaintext sent to a TLS-only chain, an untrusted or expired client certificate, a missing one: closed.
            Log.HandshakeFailed(logger, connection.ConnectionId, info.RemoteEndPoint, refused ?? e.Message);
            await ssl.DisposeAsync().ConfigureAwait(false);
            return false;
        }

        var peer = PeerVerifier.Identify(ssl.RemoteCertificate as X509Certificate2);
        var alpn = ssl.NegotiatedApplicationProtocol == default ? null : ssl.NegotiatedApplicationProtocol.ToString();
        info.Peer = peer;
        info.ServerName ??= ssl.TargetHostName.Length > 0 ? ssl.TargetHostName : null;
        info.ApplicationProtocols = alpn is null ? [] : [alpn];
        connection.Features.Set(new TlsConnectionInfo(ssl, ssl.SslProtocol, alpn, peer));
        connection.Transport = new StreamDuplexPipe(ssl);
        connection.Features.Get<IConnectionCompleteFeature>()?.OnCompleted(static s => CloseTlsAsync((SslStream)s!), ssl);
        info.Protocol = alpn switch
        {
            "h2" => DetectedProtocol.Http2,
            "http/1.1" => DetectedProtocol.Http1,
            _ when http => (await DetectAsync(connection.Transport.Input, hasDestination: false, connection.ConnectionClosed).ConfigureAwait(false)).Protocol,
            _ => DetectedProtocol.Opaque,
        };
        if (logger.IsEnabled(LogLevel.Debug))
        {
            Log.TlsTerminated(logger, connection.ConnectionId, ssl.SslProtocol, alpn ?? "-", peer?.SpiffeId ?? "-", info.Protocol);
        }

        return true;
    }

    /// <summary>Ends a terminated connection: close_notify (best effort), then the TLS stream.</summary>
    private static async Task CloseTlsAsync(SslStream ssl)
    {
        try
        {
            await ssl.ShutdownAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException or ConnectionResetException)
        {
        }

        await ssl.DisposeAsync().ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "Connection {ConnectionId} from {Remote}: no filter chain of {Listener} accepts {Transport}; closing")]
        public static partial void NoFilterChain(ILogger logger, string connectionId, string listener, string transport, System.Net.IPEndPoint? remote);

        [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Connection {ConnectionId} from {Remote}: TLS handshake refused: {Reason}")]
        public static partial void HandshakeFailed(ILogger logger, string connectionId, System.Net.IPEndPoint? remote, string reason);

        [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Connection {ConnectionId}: cannot terminate TLS: {Reason}; closing")]
        public static partial void TlsUnavailable(ILogger logger, string connectionId, string reason);

        [LoggerMessage(EventId = 6, Level = LogLevel.Debug, Message = "Connection {ConnectionId}: TLS terminated ({Version}, ALPN {Alpn}), peer {Peer}, then {Protocol}")]
        public static partial void TlsTerminated(ILogger logger, string connectionId, SslProtocols version, string alpn, string peer, DetectedProtocol protocol);
    }
}
