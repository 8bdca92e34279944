using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace Skein.Proxy.Listeners;

/// <summary>An in-process Kestrel endpoint that receives connections handed over by the capture ports.</summary>
internal sealed class HandoffEndPoint(string name) : EndPoint
{
    public string Name { get; } = name;

    public override string ToString() => "handoff:" + Name;
}

/// <summary>
/// A Kestrel transport for <see cref="HandoffEndPoint"/>s. Kestrel refuses HTTP/2 prior knowledge (h2c) on a
/// cleartext Http1AndHttp2 endpoint (it answers HTTP_1_1_REQUIRED), so the capture ports speak HTTP/1.1 and
/// hand h2c connections — bytes already read still unconsumed in the same pipe — to an Http2-only endpoint of
/// this transport. No bytes are copied: Kestrel's HTTP/2 stack reads the original connection's pipe.
/// The same path will carry TLS-terminated connections (ALPN h2 or http/1.1) once mTLS is wired.
/// </summary>
internal sealed class HandoffTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly ConcurrentDictionary<string, HandoffListener> _listeners = new(StringComparer.Ordinal);

    public bool CanBind(EndPoint endpoint) => endpoint is HandoffEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var ep = (HandoffEndPoint)endpoint;
        var listener = new HandoffListener(ep);
        _listeners[ep.Name] = listener;
        return new ValueTask<IConnectionListener>(listener);
    }

    /// <summary>Runs <paramref name="connection"/> through the endpoint named <paramref name="name"/>; completes when it closes.</summary>
    public Task HandOffAsync(string name, ConnectionContext connection)
    {
        if (!_listeners.TryGetValue(name, out var listener))
        {
            connection.Abort(new ConnectionAbortedException("handoff endpoint not bound"));
            return Task.CompletedTask;
        }

        return listener.HandOffAsync(connection);
    }

    private sealed class HandoffListener(EndPoint endpoint) : IConnectionListener
    {
        private readonly Channel<ConnectionContext> _queue = Channel.CreateUnbounded<ConnectionContext>();

        public EndPoint EndPoint { get; } = endpoint;

        public Task HandOffAsync(ConnectionContext connection)
        {
            var wrapper = new HandoffConnection(connection);
            if (!_queue.Writer.TryWrite(wrapper))
            {
                connection.Abort(new ConnectionAbortedException("the proxy is shutting down"));
                return Task.CompletedTask;
            }

            return wrapper.Completed;
        }

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                return await _queue.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                return null;
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            _queue.Writer.TryComplete();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            _queue.Writer.TryComplete();
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>The handed-over connection as the second endpoint sees it: same pipe, layered features.</summary>
    private sealed class HandoffConnection(ConnectionContext inner) : ConnectionContext
    {
        private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Completed => _completed.Task;

        public override string ConnectionId { get => inner.ConnectionId; set => inner.ConnectionId = value; }

        public override IFeatureCollection Features { get; } = new FeatureCollection(inner.Features);

        public override IDictionary<object, object?> Items { get => inner.Items; set => inner.Items = value; }

        public override IDuplexPipe Transport { get => inner.Transport; set => inner.Transport = value; }

        public override EndPoint? LocalEndPoint { get => inner.LocalEndPoint; set => inner.LocalEndPoint = value; }

        public override EndPoint? RemoteEndPoint { get => inner.RemoteEndPoint; set => inner.RemoteEndPoint = value; }

        public override CancellationToken ConnectionClosed { get => inner.ConnectionClosed; set => inner.ConnectionClosed = value; }

        public override void Abort(ConnectionAbortedException abortReason) => inner.Abort(abortReason);

        public override void Abort() => inner.Abort();

        public override ValueTask DisposeAsync()
        {
            _completed.TrySetResult();
            return base.DisposeAsync();
        }
    }
}
