using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Globalization;
using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Telemetry;
using Skein.ControlPlane.Translation;
using Skein.Xds;
using Skein.Xds.Envoy.Service.Discovery.V3;

namespace Skein.ControlPlane.Xds;

/// <summary>Timing of the ADS server.</summary>
internal sealed record XdsServerOptions
{
    public TimeSpan PushDebounce { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan PushDebounceMax { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>After a stream's first request, how long to wait for its other first requests so that they
    /// are answered in push order (CDS, EDS, LDS, RDS) whatever order they were sent in.</summary>
    public TimeSpan InitialGather { get; init; } = TimeSpan.FromMilliseconds(20);

    public TimeSpan DisconnectedRetention { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Responses being written at once, all streams together: bounds the memory that serialized
    /// responses waiting for slow readers hold (a sidecar's CDS or EDS is megabytes in a large mesh).</summary>
    public int ConcurrentWrites { get; init; } = 32;

    /// <summary>A write that takes longer than this gives its slot to others (it goes on, outside the bound).</summary>
    public TimeSpan WriteSlotTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The ADS server, state of the world (Envoy's xDS protocol; Istio's pilot/pkg/xds): one loop per stream owns
/// that stream's state, so requests and pushes are handled in order and responses are written by one writer.
/// <list type="bullet">
///   <item>A request without a nonce (a new subscription) is always answered, with the current resources.</item>
///   <item>A request whose nonce is not the last one sent for its type is stale and ignored.</item>
///   <item>An ACK records the version; it is answered only when the subscribed names changed.</item>
///   <item>A NACK records the version and <c>error_detail</c> and is not answered: that content is not sent
///         again; the next config change that alters the proxy's resources sends a new version.</item>
///   <item>Pushes are debounced, go out in the order CDS, EDS, LDS, RDS, and skip every type whose generated
///         content for that proxy (by hash) did not change, so unaffected proxies get nothing.</item>
///   <item>LDS and CDS are wildcard when the first request names nothing (or names "*"); otherwise every
///         response carries exactly the subscribed names that exist, as gRPC clients require.</item>
/// </list>
/// </summary>
internal sealed partial class XdsServer : IDisposable
{
    /// <summary>The order pushes go out in, so that nothing references what the proxy does not have yet.</summary>
    public static readonly ImmutableArray<string> PushOrder =
        [TypeUrls.Cluster, TypeUrls.ClusterLoadAssignment, TypeUrls.Listener, TypeUrls.RouteConfiguration, TypeUrls.Secret];

    private readonly MeshState _state;
    private readonly TranslationCache _cache;
    private readonly XdsServerOptions _options;
    private readonly ControlPlaneMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly PushDebouncer _debouncer;
    private readonly ConcurrentDictionary<string, ProxyConnection> _connections = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly WriteLimiter _writes;
    private long _streams;

    public XdsServer(MeshState state, TranslationCache cache, XdsServerOptions options, ControlPlaneMetrics metrics, TimeProvider time, ILogger<XdsServer> logger)
    {
        _state = state;
        _cache = cache;
        _options = options;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _writes = new WriteLimiter(options.ConcurrentWrites, options.WriteSlotTimeout);
        _debouncer = new PushDebouncer(options.PushDebounce, options.PushDebounceMax, time, () => PushAll(_state.Current));
        _state.Changed += snapshot =>
        {
            _metrics.ConfigVersion(snapshot.Version);
            _debouncer.Notify();
        };
        _metrics.ConfigVersion(state.Current.Version);
    }

    /// <summary>How many debounced pushes have gone out (tests).</summary>
    public int Pushes => _debouncer.Fired;

    public TranslationCache Cache => _cache;

    public MeshSnapshot CurrentSnapshot => _state.Current;

    /// <summary>Every connected proxy and those disconnected within the retention time, one entry per node id.</summary>
    public IReadOnlyList<ProxyStatus> Proxies()
    {
        var now = _time.GetUtcNow();
        foreach (var (id, c) in _connections)
        {
            if (c.DisconnectedAt is { } at && now - at > _options.DisconnectedRetention)
            {
                _connections.TryRemove(id, out _);
            }
        }

        return _connections.Values
            .GroupBy(c => c.Node.Id, StringComparer.Ordinal)
            .Select(g => g.OrderByDescending(c => c.Connected).ThenByDescending(c => c.ConnectedAt).First().Status())
            .OrderBy(s => s.Node.Id, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>The connection of a proxy by node id, else by unique workload name, instance id or id prefix.</summary>
    public ProxyConnection? FindProxy(string key)
    {
        var candidates = _connections.Values.OrderByDescending(c => c.Connected).ThenByDescending(c => c.ConnectedAt).ToList();
        return candidates.FirstOrDefault(c => c.Node.Id == key)
            ?? candidates.FirstOrDefault(c => c.Node.InstanceId == key)
            ?? Unique(candidates.Where(c => c.Node.WorkloadName == key || _cache.Resolve(_state.Current, c.Node).WorkloadName == key))
            ?? Unique(candidates.Where(c => c.Node.Id.StartsWith(key, StringComparison.Ordinal)));

        static ProxyConnection? Unique(IEnumerable<ProxyConnection> matches)
        {
            var list = matches.GroupBy(c => c.Node.Id, StringComparer.Ordinal).Select(g => g.First()).Take(2).ToList();
            return list.Count == 1 ? list[0] : null;
        }
    }

    /// <summary>Sends every proxy whatever of <paramref name="snapshot"/> changes its resources.</summary>
    public void PushAll(MeshSnapshot snapshot)
    {
        foreach (var c in _connections.Values)
        {
            if (c.Connected)
            {
                c.PushSignal?.Invoke(snapshot);
            }
        }
    }

    /// <summary>Serves one ADS stream until the client closes it or <paramref name="cancellation"/> fires.</summary>
    /// <param name="requests">The client's requests.</param>
    /// <param name="write">Writes one response (never called concurrently).</param>
    /// <param name="peer">The client's address, for status.</param>
    /// <param name="cancellation">The stream's cancellation.</param>
    public async Task HandleStreamAsync(
        IAsyncEnumerable<DiscoveryRequest> requests,
        Func<DiscoveryResponse, Task> write,
        string peer,
        CancellationToken cancellation)
    {
        var streamId = Interlocked.Increment(ref _streams).ToString("x", CultureInfo.InvariantCulture);
        var queue = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation, _shutdown.Token);
        var token = stop.Token;
        var reader = Task.Run(
            async () =>
            {
                try
                {
                    await foreach (var request in requests.WithCancellation(token))
                    {
                        queue.Writer.TryWrite(request);
                    }

                    queue.Writer.TryComplete();
                }
                catch (Exception e)
                {
                    queue.Writer.TryComplete(e);
                }
            },
            CancellationToken.None);

        ProxyConnection? connection = null;
        try
        {
            var first = true;
            while (await queue.Reader.WaitToReadAsync(token))
            {
                var batch = new Batch();
                Drain(queue.Reader, batch);
                if (first && batch.Requests.Count > 0)
                {
                    await GatherAsync(queue.Reader, batch, token);
                }

                if (connection is null && batch.Requests.Count > 0)
                {
                    var node = batch.Requests[0].Node
                        ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "the first DiscoveryRequest of a stream must carry the node"));
                    connection = new ProxyConnection(streamId, ProxyNode.FromNode(node), peer, _time.GetUtcNow());
                    connection.PushSignal = snapshot => queue.Writer.TryWrite(snapshot);
                    _connections[streamId] = connection;
                    _metrics.Connected(1);
                    Log.Connected(_logger, connection.Node.Id, peer, connection.Node.Mode.ToString());
                }

                if (connection is null)
                {
                    continue;
                }

                first = false;

                // Requests in push order (stable within a type), then the latest pending push.
                foreach (var request in batch.Requests.OrderBy(r => Rank(r.TypeUrl)))
                {
                    await HandleRequestAsync(connection, request, write);
                }

                if (batch.Push is { } snapshot)
                {
                    await PushAsync(connection, snapshot, write);
                }
            }

            await reader;
        }
        catch (RpcException)
        {
            throw;
        }
        catch (Exception e) when (token.IsCancellationRequested || e is IOException or OperationCanceledException or ChannelClosedException or InvalidOperationException)
        {
            // The client went away (reset, cancelled, or closed while a response was being written).
            Log.StreamEnded(_logger, connection?.Node.Id ?? peer, e.GetType().Name, e.Message);
        }
        finally
        {
            await stop.CancelAsync();
            if (connection is not null)
            {
                connection.MarkDisconnected(_time.GetUtcNow());
                connection.PushSignal = null;
                _metrics.Connected(-1);
                Log.Disconnected(_logger, connection.Node.Id);
            }
        }
    }

    private sealed class Batch
    {
        public List<DiscoveryRequest> Requests { get; } = [];

        public MeshSnapshot? Push { get; set; }
    }

    private static void Drain(ChannelReader<object> reader, Batch batch)
    {
        while (reader.TryRead(out var item))
        {
            switch (item)
            {
                case DiscoveryRequest r:
                    batch.Requests.Add(r);
                    break;
                case MeshSnapshot s when batch.Push is null || s.Version > batch.Push.Version:
                    batch.Push = s;
                    break;
            }
        }
    }

    private async Task GatherAsync(ChannelReader<object> reader, Batch batch, CancellationToken token)
    {
        var started = _time.GetTimestamp();
        while (!HasAllMainTypes(batch.Requests))
        {
            var left = _options.InitialGather - _time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                return;
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            timeout.CancelAfter(left);
            try
            {
                if (!await reader.WaitToReadAsync(timeout.Token))
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (!token.IsCancellationRequested)
            {
                return;
            }

            Drain(reader, batch);
        }
    }

    private static bool HasAllMainTypes(List<DiscoveryRequest> requests)
    {
        var seen = 0;
        foreach (var r in requests)
        {
            var rank = Rank(r.TypeUrl);
            if (rank < 4)
            {
                seen |= 1 << rank;
            }
        }

        return seen == 0b1111;
    }

    private static int Rank(string typeUrl)
    {
        var i = PushOrder.IndexOf(typeUrl);
        return i < 0 ? PushOrder.Length : i;
    }

    private async Task HandleRequestAsync(ProxyConnection connection, DiscoveryRequest request, Func<DiscoveryResponse, Task> write)
    {
        var type = request.TypeUrl;
        if (string.IsNullOrEmpty(type))
        {
            return;
        }

        var watch = connection.Watch(type);
        var now = _time.GetUtcNow();
        if (request.ResponseNonce.Length > 0)
        {
            if (request.ResponseNonce != watch.NonceSent)
            {
                _metrics.Count("stale", type);
                return; // an answer to something superseded
            }

            if (request.ErrorDetail is { } error && (error.Code != 0 || error.Message.Length > 0))
            {
                var nack = new NackRecord(type, watch.VersionSent ?? request.VersionInfo, error.Message, now);
                connection.RecordNack(nack);
                connection.Update(() => UpdateSubscription(watch, request));
                _metrics.Count("nacks", type);
                Log.Nack(_logger, connection.Node.Id, ControlPlaneMetrics.ShortType(type), nack.Version, error.Message);
                return; // keep the proxy on its last good config; do not send this content again
            }

            var changed = false;
            DateTimeOffset createdAt = default;
            connection.Update(() =>
            {
                watch.VersionAcked = watch.VersionSent;
                watch.Acked = watch.Sent;
                watch.AckedAt = now;
                createdAt = watch.SentSnapshotCreatedAt;
                changed = UpdateSubscription(watch, request);
            });
            _metrics.Count("acks", type);
            if (createdAt > DateTimeOffset.UnixEpoch)
            {
                _metrics.AckLatency(type, now - createdAt);
            }

            if (changed)
            {
                await RespondAsync(connection, watch, _state.Current, write, force: true);
            }

            return;
        }

        // A new subscription on this stream (or a client that lost its state): always answer.
        connection.Update(() => UpdateSubscription(watch, request));
        await RespondAsync(connection, watch, _state.Current, write, force: true);
    }

    /// <summary>Applies the request's names; true when the subscription changed.</summary>
    private static bool UpdateSubscription(WatchState watch, DiscoveryRequest request)
    {
        var names = request.ResourceNames;
        bool wildcard;
        if (names.Contains("*"))
        {
            wildcard = true;
        }
        else if (names.Count == 0)
        {
            // Empty names on the first request mean "everything"; later they keep what was chosen.
            wildcard = watch.NonceSent is null || watch.Wildcard;
        }
        else
        {
            wildcard = false;
        }

        var set = SubscriptionSet.Of(names);
        var changed = wildcard != watch.Wildcard || !set.SetEquals(watch.Names);
        watch.Wildcard = wildcard;
        watch.Names = set;
        return changed;
    }

    private async Task PushAsync(ProxyConnection connection, MeshSnapshot snapshot, Func<DiscoveryResponse, Task> write)
    {
        foreach (var type in PushOrder)
        {
            if (connection.FindWatch(type) is { NonceSent: not null } watch)
            {
                await RespondAsync(connection, watch, snapshot, write, force: false);
            }
        }
    }

    /// <summary>Sends the watch's resources unless (when not forced) they are what was last sent.</summary>
    private async Task RespondAsync(ProxyConnection connection, WatchState watch, MeshSnapshot snapshot, Func<DiscoveryResponse, Task> write, bool force)
    {
        var pending = _cache.GetAsync(snapshot, connection.Node, watch.TypeUrl);
        var resources = pending is null ? null : await pending;
        if (!force && resources is not null && ReferenceEquals(resources, watch.SentFrom) && watch.Names == watch.SentNames)
        {
            return; // the same generated resources as last time: nothing changed for this proxy
        }

        IReadOnlyList<XdsResource> items;
        ulong hash;
        if (resources is null)
        {
            items = [];
            hash = TypeResources.HashOf(items);
        }
        else if (watch.Wildcard)
        {
            items = resources;
            hash = resources.Hash;
        }
        else
        {
            var selection = resources.Select(watch.Names); // shared by proxies with the same subscription
            items = selection.Items;
            hash = selection.Hash;
        }

        if (!force && hash == watch.HashSent)
        {
            connection.Update(() =>
            {
                watch.SentFrom = resources;
                watch.SentNames = watch.Names;
            });
            return; // nothing changed for this proxy (or it is exactly what the proxy refused)
        }

        var version = snapshot.Version.ToString(CultureInfo.InvariantCulture);
        var response = new DiscoveryResponse
        {
            VersionInfo = version,
            TypeUrl = watch.TypeUrl,
            Nonce = connection.NextNonce(),
            ControlPlane = new Skein.Xds.Envoy.Config.Core.V3.ControlPlane { Identifier = "skein-control" },
        };
        if (watch.Wildcard && resources is not null)
        {
            resources.AddTo(response.Resources);
        }
        else
        {
            foreach (var item in items)
            {
                response.Resources.Add(item.Any);
            }
        }

        var now = _time.GetUtcNow();
        connection.Update(() =>
        {
            watch.NonceSent = response.Nonce;
            watch.VersionSent = version;
            watch.HashSent = hash;
            watch.Sent = items;
            watch.SentFrom = resources;
            watch.SentNames = watch.Names;
            watch.SentAt = now;
            watch.SentSnapshotCreatedAt = snapshot.CreatedAt;
        });
        _metrics.Count("pushes", watch.TypeUrl);
        await _writes.WriteAsync(response, write);
    }

    /// <summary>Ends every stream (the server is stopping); proxies keep their config and reconnect.</summary>
    public void Shutdown() => _shutdown.Cancel();

    public void Dispose()
    {
        _debouncer.Dispose();
        _shutdown.Dispose();
        _writes.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "proxy {Node} connected from {Peer} ({Mode})")]
        public static partial void Connected(ILogger logger, string node, string peer, string mode);

        [LoggerMessage(2, LogLevel.Information, "proxy {Node} disconnected")]
        public static partial void Disconnected(ILogger logger, string node);

        [LoggerMessage(3, LogLevel.Warning, "proxy {Node} rejected {Type} version {Version}: {Message}")]
        public static partial void Nack(ILogger logger, string node, string type, string version, string message);

        [LoggerMessage(4, LogLevel.Debug, "stream of {Node} ended: {Error}: {Message}")]
        public static partial void StreamEnded(ILogger logger, string node, string error, string message);
    }
}
