using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Skein.Proxy.Runtime;
using Skein.Proxy.Tls;

namespace Skein.Proxy.Routing;

/// <summary>
/// One pooled <see cref="SocketsHttpHandler"/> per cluster, configured from the cluster's settings. A cluster with
/// an <c>UpstreamTlsContext</c> originates TLS in the connect callback (endpoints stay <c>http://</c> for the
/// handler): the SNI, ALPN, client certificate and peer checks are the cluster's own, and the certificate is the
/// one current at that handshake, so rotation needs no new handler.
/// </summary>
internal sealed class UpstreamClientFactory(TlsContexts? tls = null) : IUpstreamClientFactory
{
    private static readonly List<SslApplicationProtocol> Http2Alpn = [SslApplicationProtocol.Http2];
    private static readonly List<SslApplicationProtocol> Http11Alpn = [SslApplicationProtocol.Http11];

    public HttpMessageInvoker Create(ClusterSettings settings)
    {
        var upstreamTls = settings.Tls;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = null,
            ConnectTimeout = settings.ConnectTimeout,
            PooledConnectionIdleTimeout = settings.Http.IdleTimeout ?? Timeout.InfiniteTimeSpan,
            PooledConnectionLifetime = settings.Http.MaxConnectionDuration ?? Timeout.InfiniteTimeSpan,
            MaxConnectionsPerServer = Math.Max(1, settings.CircuitBreakers.MaxConnections),
            PlaintextStreamFilter = Resilience.MaxRequestsPerConnection.Filter(settings.Http.MaxRequestsPerConnection),
            ConnectCallback = upstreamTls is null || tls is null
                ? ConnectAsync
                : (context, cancellation) => ConnectTlsAsync(tls, upstreamTls, context, cancellation),
        };
        return new HttpMessageInvoker(handler, disposeHandler: true);
    }

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// TCP, then TLS as the cluster says. A refused peer certificate fails the connect, which the router reports as
    /// 503 <c>UF</c> with the reason (<c>TLS_error: SAN mismatch ...</c>) as the transport failure reason.
    /// </summary>
    private static async ValueTask<Stream> ConnectTlsAsync(
        TlsContexts tls, UpstreamTlsSettings settings, SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var network = await ConnectAsync(context, cancellationToken).ConfigureAwait(false);
        string? refused = null;
        SslStream? ssl = null;
        try
        {
            var alpn = context.InitialRequestMessage.Version.Major >= 2 ? Http2Alpn : Http11Alpn;
            var options = tls.Client(settings, alpn, error => refused = error);
            ssl = new SslStream(network, leaveInnerStreamOpen: false);
            await ssl.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
            return ssl;
        }
        catch (Exception e) when (e is AuthenticationException or IOException or TlsSetupException)
        {
            if (ssl is not null)
            {
                await ssl.DisposeAsync().ConfigureAwait(false);
            }

            await network.DisposeAsync().ConfigureAwait(false);
            // No inner exception: its message is what the access log shows as the transport failure reason.
            throw new AuthenticationException("TLS_error: " + (refused ?? e.Message));
        }
        catch
        {
            if (ssl is not null)
            {
                await ssl.DisposeAsync().ConfigureAwait(false);
            }

            await network.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
