using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Skein.Proxy.Protocol;
using Skein.Proxy.Tls;

namespace Skein.Proxy.Listeners;

/// <summary>
/// The TCP relay when either side is TLS: a downstream terminated by the inbound chain (plaintext read from its
/// pipe, written through its <see cref="SslStream"/>), an upstream the cluster wants TLS to (mTLS to the peer's
/// 15006). Half-close becomes close_notify on a TLS side and a FIN on a plain one.
/// </summary>
internal sealed partial class TcpProxyHandler
{
    private async Task<bool> RelayTlsAsync(
        ConnectionContext downstream,
        Socket? downstreamSocket,
        DownstreamConnection info,
        EndPoint target,
        TimeSpan connectTimeout,
        TimeSpan? idleTimeout,
        UpstreamTlsSettings? upstreamTls,
        Action established)
    {
        using var socket = new Socket(target.AddressFamily == AddressFamily.Unspecified ? AddressFamily.InterNetworkV6 : target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (socket.AddressFamily == AddressFamily.InterNetworkV6)
        {
            socket.DualMode = true;
        }

        socket.NoDelay = true;
        NetworkStream? network = null;
        SslStream? upstreamSsl = null;
        using (var connectCts = new CancellationTokenSource(connectTimeout, time))
        using (connectCts.Token.UnsafeRegister(static s => ((Socket)s!).Dispose(), socket))
        {
            try
            {
                await socket.ConnectAsync(target, connectCts.Token).ConfigureAwait(false);
                network = new NetworkStream(socket, ownsSocket: false);
                if (upstreamTls is not null)
                {
                    string? refused = null;
                    var options = (tls ?? throw new TlsSetupException("TLS is not available in this proxy")).Client(upstreamTls, null, e => refused = e);
                    upstreamSsl = new SslStream(network, leaveInnerStreamOpen: true);
                    try
                    {
                        await upstreamSsl.AuthenticateAsClientAsync(options, connectCts.Token).ConfigureAwait(false);
                    }
                    catch (AuthenticationException e)
                    {
                        throw new TlsSetupException(refused ?? e.Message);
                    }
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException or IOException or TlsSetupException)
            {
                Log.UpstreamTlsFailed(logger, info.ConnectionId, target, e is TlsSetupException ? "TLS_error: " + e.Message : e.Message);
                if (upstreamSsl is not null)
                {
                    await upstreamSsl.DisposeAsync().ConfigureAwait(false);
                }

                return false;
            }
        }

        await using var _ = upstreamSsl;
        await using var __ = network;
        established();
        Stream upstream = upstreamSsl is null ? network! : upstreamSsl;
        var terminated = downstream.Features.Get<TlsConnectionInfo>();
        Stream? downstreamWriter = terminated is not null ? terminated.Stream : downstreamSocket is null ? null : new NetworkStream(downstreamSocket, ownsSocket: false);

        using var idle = new CancellationTokenSource();
        var activity = new Activity(idle, idleTimeout, time);
        activity.Touch();
        var toUpstream = PumpPipeToStreamAsync(downstream.Transport.Input, upstream, () => ShutdownAsync(upstreamSsl, socket), info, activity);
        var toDownstream = PumpStreamToDownstreamAsync(upstream, downstreamWriter, downstream.Transport.Output, () => ShutdownAsync(terminated?.Stream, terminated is null ? downstreamSocket : null), info, activity);
        var first = await Task.WhenAny(toUpstream, toDownstream).ConfigureAwait(false);
        if (!await first.ConfigureAwait(false))
        {
            socket.Dispose();
            downstream.Abort();
        }

        await Task.WhenAll(toUpstream, toDownstream).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Half-close of one side: close_notify when it is TLS, then a FIN when we own its socket (never the socket under
    /// a terminated downstream: its TLS records may still sit in Kestrel's output pipe).
    /// </summary>
    private static async ValueTask ShutdownAsync(SslStream? ssl, Socket? socket)
    {
        if (ssl is not null)
        {
            await ssl.ShutdownAsync().ConfigureAwait(false);
        }

        if (socket is not null && (ssl is null || socket.Connected))
        {
            socket.Shutdown(SocketShutdown.Send);
        }
    }

    private static async Task<bool> PumpPipeToStreamAsync(PipeReader input, Stream output, Func<ValueTask> shutdown, DownstreamConnection info, Activity activity)
    {
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(activity.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    await output.WriteAsync(segment, activity.Token).ConfigureAwait(false);
                    info.AddReceived(segment.Length);
                }

                if (!buffer.IsEmpty)
                {
                    await output.FlushAsync(activity.Token).ConfigureAwait(false);
                }

                input.AdvanceTo(buffer.End);
                activity.Touch();
                if (result.IsCompleted || result.IsCanceled)
                {
                    await shutdown().ConfigureAwait(false);
                    return true;
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException or IOException
            or ConnectionResetException or ConnectionAbortedException or InvalidOperationException or AuthenticationException)
        {
            return false;
        }
    }

    private static async Task<bool> PumpStreamToDownstreamAsync(
        Stream upstream, Stream? downstreamStream, PipeWriter downstreamPipe, Func<ValueTask> shutdown, DownstreamConnection info, Activity activity)
    {
        try
        {
            while (true)
            {
                // Zero-byte read first (SslStream supports it): no buffer is held while the connection is idle.
                await upstream.ReadAsync(Memory<byte>.Empty, activity.Token).ConfigureAwait(false);
                var rented = ArrayPool<byte>.Shared.Rent(BufferSize);
                try
                {
                    var n = await upstream.ReadAsync(rented.AsMemory(), activity.Token).ConfigureAwait(false);
                    if (n == 0)
                    {
                        if (downstreamStream is null)
                        {
                            await downstreamPipe.CompleteAsync().ConfigureAwait(false);
                        }
                        else
                        {
                            await shutdown().ConfigureAwait(false);
                        }

                        return true;
                    }

                    if (downstreamStream is null)
                    {
                        await downstreamPipe.WriteAsync(rented.AsMemory(0, n), activity.Token).ConfigureAwait(false);
                    }
                    else
                    {
                        await downstreamStream.WriteAsync(rented.AsMemory(0, n), activity.Token).ConfigureAwait(false);
                        await downstreamStream.FlushAsync(activity.Token).ConfigureAwait(false);
                    }

                    info.AddSent(n);
                    activity.Touch();
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException or IOException
            or ConnectionResetException or ConnectionAbortedException or InvalidOperationException or AuthenticationException)
        {
            return false;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 21, Level = LogLevel.Information, Message = "Connection {ConnectionId}: upstream connection to {Target} failed: {Reason}")]
        public static partial void UpstreamTlsFailed(ILogger logger, string connectionId, EndPoint target, string reason);
    }
}
