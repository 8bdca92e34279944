using System.Net;
using System.Net.Sockets;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.Routing;

/// <summary>One pooled <see cref="SocketsHttpHandler"/> per cluster, configured from the cluster's settings.</summary>
internal sealed class UpstreamClientFactory : IUpstreamClientFactory
{
    public HttpMessageInvoker Create(ClusterSettings settings)
    {
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
            ConnectCallback = ConnectAsync,
            PlaintextStreamFilter = Resilience.MaxRequestsPerConnection.Filter(settings.Http.MaxRequestsPerConnection),
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
}
