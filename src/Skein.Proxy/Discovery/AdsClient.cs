using System.Collections.Immutable;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Skein.Proxy.Runtime;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Service.Discovery.V3;
using GrpcStatus = Skein.Xds.GoogleRpc.Status;

namespace Skein.Proxy.Discovery;

/// <summary>
/// ADS client, state of the world. Subscribes CDS (wildcard), then EDS for the clusters' names, then LDS
/// (wildcard), then RDS for the listeners' names. Each response is validated against everything accepted so far:
/// valid ones are ACKed (version + nonce), invalid ones NACKed with <c>error_detail</c> (code 3) while the last
/// good config keeps serving. A consistent set is applied atomically once nothing it references is missing
/// (or after the initial fetch timeout, 15 s, with missing names treated as empty). Reconnects with jittered
/// exponential backoff (500 ms doubling to 30 s) and keeps serving the last config in between.
/// </summary>
internal sealed partial class AdsClient : IAsyncDisposable
{
    private static readonly TimeSpan BackoffBase = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan BackoffMax = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan InitialFetchTimeout = TimeSpan.FromSeconds(15);

    private readonly Uri _address;
    private readonly Node _node;
    private readonly ConfigApplier _applier;
    private readonly IRandomSource _random;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly AdsState _state = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private GrpcChannel? _channel;
    private Task? _loop;
    private int _streams;
    private long _incompleteSince;
    private bool _listenersReceived;

    public AdsClient(Uri address, Node node, ConfigApplier applier, IRandomSource random, TimeProvider time, ILogger logger)
    {
        _address = address;
        _node = node;
        _applier = applier;
        _random = random;
        _time = time;
        _logger = logger;
    }

    /// <summary>Streams opened so far (1 after the first connect; grows with reconnects).</summary>
    public int StreamsOpened => Volatile.Read(ref _streams);

    /// <summary>The last error sent in a NACK, for diagnostics.</summary>
    public string? LastNack { get; private set; }

    public void Start()
    {
        _channel = GrpcChannel.ForAddress(_address, new GrpcChannelOptions
        {
            MaxReceiveMessageSize = null,
            HttpHandler = new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                KeepAlivePingDelay = TimeSpan.FromSeconds(30),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
                ConnectTimeout = TimeSpan.FromSeconds(5),
            },
        });
        _loop = Task.Run(RunAsync);
    }

    /// <summary>The delay before reconnect attempt <paramref name="attempt"/> (0-based): half fixed, half random.</summary>
    public static TimeSpan Backoff(int attempt, IRandomSource random)
    {
        var ceiling = Math.Min(BackoffMax.TotalMilliseconds, BackoffBase.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 16)));
        return TimeSpan.FromMilliseconds((ceiling / 2) + (random.NextDouble() * ceiling / 2));
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        _channel?.Dispose();
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        var attempt = 0;
        using var timer = _time.CreateTimer(_ => ApplyAfterInitialFetchTimeout(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                if (await StreamAsync().ConfigureAwait(false))
                {
                    attempt = 0;
                }
            }
            catch (Exception e) when (e is RpcException or IOException or HttpRequestException or InvalidOperationException
                || (e is OperationCanceledException && !_stop.IsCancellationRequested))
            {
                Log.StreamFailed(_logger, _address, e.Message);
            }

            if (_stop.IsCancellationRequested)
            {
                break;
            }

            var delay = Backoff(attempt++, _random);
            Log.Reconnecting(_logger, delay.TotalMilliseconds);
            try
            {
                await Task.Delay(delay, _time, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>One ADS stream; returns true when at least one response was received (resets the backoff).</summary>
    private async Task<bool> StreamAsync()
    {
        var client = new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(_channel!);
        using var call = client.StreamAggregatedResources(cancellationToken: _stop.Token);
        Interlocked.Increment(ref _streams);
        var first = true;
        async Task Send(DiscoveryRequest request)
        {
            if (first)
            {
                request.Node = _node;
                first = false;
            }

            await call.RequestStream.WriteAsync(request, _stop.Token).ConfigureAwait(false);
        }

        // Resubscribe: CDS first; EDS/LDS/RDS follow as before when they were subscribed on a previous stream.
        var previous = new Dictionary<string, ImmutableArray<string>>(_state.Subscribed, StringComparer.Ordinal);
        _state.Subscribed.Clear();
        await Send(Subscribe(TypeUrls.Cluster, [])).ConfigureAwait(false);
        foreach (var type in new[] { TypeUrls.ClusterLoadAssignment, TypeUrls.Listener, TypeUrls.RouteConfiguration })
        {
            if (previous.TryGetValue(type, out var names))
            {
                await Send(Subscribe(type, names)).ConfigureAwait(false);
            }
        }

        var received = false;
        await foreach (var response in call.ResponseStream.ReadAllAsync(_stop.Token).ConfigureAwait(false))
        {
            received = true;
            foreach (var request in Handle(response))
            {
                await Send(request).ConfigureAwait(false);
            }
        }

        return received;
    }

    private DiscoveryRequest Subscribe(string typeUrl, ImmutableArray<string> names)
    {
        _state.Subscribed[typeUrl] = names;
        var request = new DiscoveryRequest { TypeUrl = typeUrl, VersionInfo = _state.Accepted(typeUrl).Version };
        request.ResourceNames.AddRange(names);
        return request;
    }

    private List<DiscoveryRequest> Handle(DiscoveryResponse response)
    {
        lock (_lock)
        {
            var type = response.TypeUrl;
            var requests = new List<DiscoveryRequest>();
            XdsTypeState candidate;
            CompileResult result;
            try
            {
                candidate = _state.FromResponse(type, response.VersionInfo, response.Resources, _time.GetUtcNow());
                result = _applier.Validate(_state.With(candidate));
            }
            catch (ConfigException e)
            {
                requests.Add(Nack(response, e.Message));
                return requests;
            }

            if (!result.IsValid)
            {
                requests.Add(Nack(response, string.Join("; ", result.Errors)));
                return requests;
            }

            _state.Accept(candidate);
            _applier.RecordUpdate(type, accepted: true);
            var ack = new DiscoveryRequest { TypeUrl = type, VersionInfo = response.VersionInfo, ResponseNonce = response.Nonce };
            ack.ResourceNames.AddRange(_state.Subscribed.GetValueOrDefault(type, []));
            requests.Add(ack);
            Log.Acked(_logger, type, response.VersionInfo);

            var current = _state.Current;
            if (type == TypeUrls.Cluster)
            {
                var clusters = current.ClusterMessages.Concat(_applier.Static.ClusterMessages);
                Resubscribe(TypeUrls.ClusterLoadAssignment, AdsState.EdsNames(clusters), requests);
                if (!_state.Subscribed.TryGetValue(TypeUrls.ClusterLoadAssignment, out var eds) || eds.IsEmpty)
                {
                    SubscribeListeners(requests);
                }
            }
            else if (type == TypeUrls.ClusterLoadAssignment)
            {
                SubscribeListeners(requests);
            }
            else if (type == TypeUrls.Listener)
            {
                _listenersReceived = true;
                var listeners = current.ListenerMessages.Concat(_applier.Static.ListenerMessages);
                Resubscribe(TypeUrls.RouteConfiguration, AdsState.RdsNames(listeners), requests);
            }

            TryApply(treatMissingAsEmpty: false);
            return requests;
        }
    }

    private void SubscribeListeners(List<DiscoveryRequest> requests)
    {
        if (!_state.Subscribed.ContainsKey(TypeUrls.Listener))
        {
            requests.Add(Subscribe(TypeUrls.Listener, []));
        }
    }

    private void Resubscribe(string typeUrl, ImmutableArray<string> names, List<DiscoveryRequest> requests)
    {
        if (_state.Subscribed.TryGetValue(typeUrl, out var old) && old.SequenceEqual(names))
        {
            return;
        }

        if (names.IsEmpty && !_state.Subscribed.ContainsKey(typeUrl))
        {
            return; // nothing to ask for yet
        }

        _state.Prune(typeUrl, names);
        requests.Add(Subscribe(typeUrl, names));
    }

    private DiscoveryRequest Nack(DiscoveryResponse response, string error)
    {
        LastNack = error;
        _applier.RecordUpdate(response.TypeUrl, accepted: false);
        Log.Nacked(_logger, response.TypeUrl, response.VersionInfo, error);
        var nack = new DiscoveryRequest
        {
            TypeUrl = response.TypeUrl,
            VersionInfo = _state.Accepted(response.TypeUrl).Version,
            ResponseNonce = response.Nonce,
            ErrorDetail = new GrpcStatus { Code = 3, Message = error },
        };
        nack.ResourceNames.AddRange(_state.Subscribed.GetValueOrDefault(response.TypeUrl, []));
        return nack;
    }

    private void TryApply(bool treatMissingAsEmpty)
    {
        if (!_listenersReceived)
        {
            return; // the first complete set needs an LDS response (Envoy's init: CDS and EDS warm, then LDS and RDS)
        }

        var result = _applier.Apply(_state.Current, treatMissingAsEmpty);
        if (result.Config is not null)
        {
            Volatile.Write(ref _incompleteSince, 0);
        }
        else if (!result.IsComplete && Volatile.Read(ref _incompleteSince) == 0)
        {
            Volatile.Write(ref _incompleteSince, _time.GetTimestamp());
        }
    }

    private void ApplyAfterInitialFetchTimeout()
    {
        var since = Volatile.Read(ref _incompleteSince);
        if (since == 0 || _time.GetElapsedTime(since) < InitialFetchTimeout)
        {
            return;
        }

        lock (_lock)
        {
            Log.InitialFetchTimeout(_logger);
            TryApply(treatMissingAsEmpty: true);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 70, Level = LogLevel.Warning, Message = "ADS stream to {Address} failed: {Reason}")]
        public static partial void StreamFailed(ILogger logger, Uri address, string reason);

        [LoggerMessage(EventId = 71, Level = LogLevel.Information, Message = "ADS reconnecting in {DelayMs:F0} ms")]
        public static partial void Reconnecting(ILogger logger, double delayMs);

        [LoggerMessage(EventId = 72, Level = LogLevel.Debug, Message = "ACK {TypeUrl} version {Version}")]
        public static partial void Acked(ILogger logger, string typeUrl, string version);

        [LoggerMessage(EventId = 73, Level = LogLevel.Warning, Message = "NACK {TypeUrl} version {Version}: {Error}")]
        public static partial void Nacked(ILogger logger, string typeUrl, string version, string error);

        [LoggerMessage(EventId = 74, Level = LogLevel.Warning, Message = "Initial fetch timeout: applying with missing EDS/RDS resources treated as empty")]
        public static partial void InitialFetchTimeout(ILogger logger);
    }
}
