using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Skein.Proxy.Protocol;

namespace Skein.Proxy.Listeners;

/// <summary>
/// Pipes an opaque TCP connection to an upstream both ways with pooled buffers. Half-close travels through:
/// a FIN from either side becomes a shutdown of the other side's send direction. Writes to the downstream go
/// straight to its socket (Kestrel's transport would turn a completed output into a full close).
/// </summary>
internal sealed partial class TcpProxyHandler(ILogger<TcpProxyHandler> logger, TimeProvider time, Telemetry.RequestObservers observers, Tls.TlsContexts? tls = null)
{
    private const int BufferSize = 16 * 1024;

    /// <summary>Connects to <paramref name="target"/> and relays until both directions are closed.</summary>
    /// <returns>False when the upstream connection failed (the downstream is then closed).</returns>
    public async Task<bool> RelayAsync(
        ConnectionContext downstream,
        Socket? downstreamSocket,
        DownstreamConnection info,
        EndPoint target,
        string? cluster,
        TimeSpan connectTimeout,
        TimeSpan? idleTimeout,
        Tls.UpstreamTlsSettings? upstreamTls = null)
    {
        var started = time.GetTimestamp();
        var record = observers.ConnectionStarted(info, cluster, target);
        try
        {
            if (upstreamTls is not null || downstream.Features.Get<TlsConnectionInfo>() is not null)
            {
                return await RelayTlsAsync(downstream, downstreamSocket, info, target, connectTimeout, idleTimeout, upstreamTls, () => observers.ConnectionEstablished(record)).ConfigureAwait(false);
            }

            return await RelayCoreAsync(downstream, downstreamSocket, info, target, connectTimeout, idleTimeout, record).ConfigureAwait(false);
        }
        finally
        {
            record.Duration = time.GetElapsedTime(started);
            observers.ConnectionClosed(record);
        }
    }

    private async Task<bool> RelayCoreAsync(
        ConnectionContext downstream,
        Socket? downstreamSocket,
        DownstreamConnection info,
        EndPoint target,
        TimeSpan connectTimeout,
        TimeSpan? idleTimeout,
        Telemetry.TcpConnectionRecord record)
    {
        using var upstream = new Socket(target.AddressFamily == AddressFamily.Unspecified ? AddressFamily.InterNetworkV6 : target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (upstream.AddressFamily == AddressFamily.InterNetworkV6)
        {
            upstream.DualMode = true;
        }

        upstream.NoDelay = true;
        using (var connectCts = new CancellationTokenSource(connectTimeout, time))
        using (connectCts.Token.UnsafeRegister(static s => ((Socket)s!).Dispose(), upstream))
        {
            try
            {
                await upstream.ConnectAsync(target, connectCts.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
            {
                if (logger.IsEnabled(LogLevel.Debug))
                {
                    Log.ConnectFailed(logger, info.ConnectionId, target, e);
                }

                return false;
            }
        }

        observers.ConnectionEstablished(record);
        using var idle = new CancellationTokenSource();
        var activity = new Activity(idle, idleTimeout, time);
        activity.Touch();
        var toUpstream = PumpToUpstreamAsync(downstream.Transport.Input, upstream, info, activity);
        var toDownstream = PumpToDownstreamAsync(upstream, downstream.Transport.Output, downstreamSocket, info, activity);
        var first = await Task.WhenAny(toUpstream, toDownstream).ConfigureAwait(false);
        if (!await first.ConfigureAwait(false))
        {
            // One side failed: tear both down.
            upstream.Dispose();
            downstream.Abort();
        }

        await Task.WhenAll(toUpstream, toDownstream).ConfigureAwait(false);
        return true;
    }

    private static async Task<bool> PumpToUpstreamAsync(PipeReader input, Socket upstream, DownstreamConnection info, Activity activity)
    {
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(activity.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    await upstream.SendAsync(segment, SocketFlags.None, activity.Token).ConfigureAwait(false);
                    info.AddReceived(segment.Length);
                }

                input.AdvanceTo(buffer.End);
                activity.Touch();
                if (result.IsCompleted || result.IsCanceled)
                {
                    upstream.Shutdown(SocketShutdown.Send); // downstream FIN → upstream FIN
                    return true;
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException or IOException
            or ConnectionResetException or ConnectionAbortedException or InvalidOperationException)
        {
            return false;
        }
    }

    private static async Task<bool> PumpToDownstreamAsync(
        Socket upstream, PipeWriter output, Socket? downstreamSocket, DownstreamConnection info, Activity activity)
    {
        try
        {
            while (true)
            {
                // Zero-byte read first: no buffer is held while the connection is idle.
                await upstream.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, activity.Token).ConfigureAwait(false);
                var rented = ArrayPool<byte>.Shared.Rent(BufferSize);
                try
                {
                    var n = await upstream.ReceiveAsync(rented.AsMemory(), SocketFlags.None, activity.Token).ConfigureAwait(false);
                    if (n == 0)
                    {
                        // upstream FIN → downstream FIN, keep reading the downstream.
                        if (downstreamSocket is not null)
                        {
                            downstreamSocket.Shutdown(SocketShutdown.Send);
                        }
                        else
                        {
                            await output.CompleteAsync().ConfigureAwait(false);
                        }

                        return true;
                    }

                    if (downstreamSocket is not null)
                    {
                        var sent = 0;
                        while (sent < n)
                        {
                            sent += await downstreamSocket.SendAsync(rented.AsMemory(sent, n - sent), SocketFlags.None, activity.Token).ConfigureAwait(false);
                        }
                    }
                    else
                    {
                        await output.WriteAsync(rented.AsMemory(0, n), activity.Token).ConfigureAwait(false);
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
            or ConnectionResetException or ConnectionAbortedException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>The idle timeout of a relayed connection, pushed back on every transfer.</summary>
    private sealed class Activity(CancellationTokenSource cts, TimeSpan? timeout, TimeProvider time)
    {
        private long _lastTouch;

        public CancellationToken Token => cts.Token;

        public void Touch()
        {
            if (timeout is not { } t)
            {
                return;
            }

            // Re-arm at most every 50 ms: the timer is coarse, the deadline stays within that margin.
            var now = time.GetTimestamp();
            if (time.GetElapsedTime(Volatile.Read(ref _lastTouch), now) > TimeSpan.FromMilliseconds(50))
            {
                Volatile.Write(ref _lastTouch, now);
                cts.CancelAfter(t);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 20, Level = LogLevel.Debug, Message = "Connection {ConnectionId}: upstream connect to {Target} failed")]
        public static partial void ConnectFailed(ILogger logger, string connectionId, EndPoint target, Exception exception);
    }
}
