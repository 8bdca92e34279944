using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Skein.Xds.Envoy.Service.Discovery.V3;

namespace Skein.Bench.ControlPlaneScale;

/// <summary>What a fake proxy reports (called from the proxy's own loop; implementations must be thread-safe across proxies).</summary>
internal interface IProxyObserver
{
    void OnResponse(int proxy, DiscoveryResponse response, long timestamp);

    /// <summary>The proxy has written the ACK of <paramref name="response"/> to the stream.</summary>
    void OnAcked(int proxy, DiscoveryResponse response, long timestamp);

    /// <summary>The proxy has all four types and every subscription it asked for answered and ACKed.</summary>
    void OnSynced(int proxy, long timestamp);

    /// <summary>The stream failed; the proxy reconnects after a short jittered backoff, as skein-proxy does.</summary>
    void OnStreamFailed(int proxy, Exception error);
}

/// <summary>
/// A sidecar's ADS client without a data plane, driving the protocol the way skein-proxy's AdsClient does: CDS
/// (wildcard) first; after each CDS response, EDS for the EDS clusters' names; after the first EDS response, LDS
/// (wildcard); after each LDS response, RDS for the route names the listeners' HTTP connection managers name. Every
/// response is ACKed (version + nonce + the subscribed names); nothing is validated or NACKed.
/// The protocol logic (<see cref="Start"/>, <see cref="Handle"/>) is independent of the transport, so the same proxy
/// can be driven over real gRPC (<see cref="RunAsync"/>) or wired straight to a server's stream handler in process.
/// </summary>
internal sealed class FakeAdsProxy
{
    private static readonly ConcurrentDictionary<ByteString, string?> EdsNameOfCluster = new();
    private static readonly ConcurrentDictionary<ByteString, string[]> RdsNamesOfListener = new();

    private readonly IProxyObserver _observer;
    private readonly Dictionary<string, ImmutableArray<string>> _subscribed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _accepted = new(StringComparer.Ordinal);
    private readonly HashSet<string> _pending = new(StringComparer.Ordinal);
    private bool _sentNode;

    public FakeAdsProxy(int index, Node node, IProxyObserver observer)
    {
        Index = index;
        Node = node;
        _observer = observer;
    }

    public int Index { get; }

    public Node Node { get; }

    public bool Synced { get; private set; }

    /// <summary>The node of a sidecar beside <paramref name="instance"/>, with the metadata skein up's bootstrap gives it.</summary>
    public static Node SidecarNode(Instance instance)
    {
        var labels = new Struct();
        labels.Fields["app"] = Value.ForString(instance.App);
        labels.Fields["version"] = Value.ForString(instance.Version);
        var port = new Struct();
        port.Fields["port"] = Value.ForNumber(instance.Port);
        port.Fields["name"] = Value.ForString("http");
        port.Fields["protocol"] = Value.ForString("HTTP");
        var metadata = new Struct();
        metadata.Fields["NAMESPACE"] = Value.ForString(instance.Namespace);
        metadata.Fields["WORKLOAD_NAME"] = Value.ForString(instance.Workload);
        metadata.Fields["INSTANCE_ID"] = Value.ForString(instance.Id);
        metadata.Fields["LABELS"] = Value.ForStruct(labels);
        metadata.Fields["SERVICE_ACCOUNT"] = Value.ForString(instance.ServiceAccount);
        metadata.Fields["APP_PORTS"] = Value.ForList(Value.ForStruct(port));
        metadata.Fields["INSTANCE_IPS"] = Value.ForString(instance.Address);
        metadata.Fields["MODE"] = Value.ForString("sidecar");
        return new Node
        {
            Id = $"sidecar~{instance.Address}~{instance.Id}.{instance.Namespace}~{instance.Namespace}.svc.cluster.local",
            Cluster = instance.Workload,
            UserAgentName = "skein-proxy",
            Metadata = metadata,
        };
    }

    /// <summary>The first request of a stream: CDS, wildcard, carrying the node.</summary>
    public DiscoveryRequest Start() => Subscribe(TypeUrls.Cluster, []);

    /// <summary>Handles one response: the ACK first, then any subscriptions it leads to.</summary>
    public List<DiscoveryRequest> Handle(DiscoveryResponse response)
    {
        var type = response.TypeUrl;
        _accepted[type] = response.VersionInfo;
        _pending.Remove(type);
        var requests = new List<DiscoveryRequest>(2);
        var ack = WithNode(new DiscoveryRequest { TypeUrl = type, VersionInfo = response.VersionInfo, ResponseNonce = response.Nonce });
        ack.ResourceNames.AddRange(_subscribed.GetValueOrDefault(type, []));
        requests.Add(ack);

        switch (type)
        {
            case TypeUrls.Cluster:
                Resubscribe(TypeUrls.ClusterLoadAssignment, EdsNames(response.Resources), requests);
                if (!_subscribed.TryGetValue(TypeUrls.ClusterLoadAssignment, out var eds) || eds.IsEmpty)
                {
                    SubscribeListeners(requests);
                }

                break;
            case TypeUrls.ClusterLoadAssignment:
                SubscribeListeners(requests);
                break;
            case TypeUrls.Listener:
                Resubscribe(TypeUrls.RouteConfiguration, RdsNames(response.Resources), requests);
                break;
        }

        return requests;
    }

    /// <summary>
    /// Runs the proxy on ADS streams of <paramref name="channel"/> until cancelled: when a stream fails it reconnects
    /// after 0.5-1 s and subscribes from scratch.
    /// </summary>
    public async Task RunAsync(GrpcChannel channel, CancellationToken cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            try
            {
                await StreamAsync(channel, cancel);
                return;
            }
            catch (Exception e) when (!cancel.IsCancellationRequested && e is RpcException or IOException or HttpRequestException or InvalidOperationException)
            {
                _observer.OnStreamFailed(Index, e);
            }

            _subscribed.Clear();
            _accepted.Clear();
            _pending.Clear();
            _sentNode = false;
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500 + Random.Shared.Next(500)), cancel);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task StreamAsync(GrpcChannel channel, CancellationToken cancel)
    {
        var client = new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(channel);
        using var call = client.StreamAggregatedResources(cancellationToken: cancel);
        try
        {
            await call.RequestStream.WriteAsync(Start(), cancel);
            await foreach (var response in call.ResponseStream.ReadAllAsync(cancel))
            {
                _observer.OnResponse(Index, response, Stopwatch.GetTimestamp());
                foreach (var request in Handle(response))
                {
                    await call.RequestStream.WriteAsync(request, cancel);
                }

                var now = Stopwatch.GetTimestamp();
                _observer.OnAcked(Index, response, now);
                if (!Synced && _pending.Count == 0 && _accepted.Count >= 4)
                {
                    Synced = true;
                    _observer.OnSynced(Index, now);
                }
            }
        }
        catch (RpcException) when (cancel.IsCancellationRequested)
        {
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }
    }

    private DiscoveryRequest WithNode(DiscoveryRequest request)
    {
        if (!_sentNode)
        {
            request.Node = Node;
            _sentNode = true;
        }

        return request;
    }

    private DiscoveryRequest Subscribe(string typeUrl, ImmutableArray<string> names)
    {
        _subscribed[typeUrl] = names;
        _pending.Add(typeUrl);
        var request = WithNode(new DiscoveryRequest { TypeUrl = typeUrl, VersionInfo = _accepted.GetValueOrDefault(typeUrl, "") });
        request.ResourceNames.AddRange(names);
        return request;
    }

    private void SubscribeListeners(List<DiscoveryRequest> requests)
    {
        if (!_subscribed.ContainsKey(TypeUrls.Listener))
        {
            requests.Add(Subscribe(TypeUrls.Listener, []));
        }
    }

    private void Resubscribe(string typeUrl, ImmutableArray<string> names, List<DiscoveryRequest> requests)
    {
        if (_subscribed.TryGetValue(typeUrl, out var old) && old.SequenceEqual(names))
        {
            return;
        }

        if (names.IsEmpty && !_subscribed.ContainsKey(typeUrl))
        {
            return;
        }

        requests.Add(Subscribe(typeUrl, names));
    }

    // Thousands of proxies receive the same resources: each distinct resource (by its bytes) is decoded once.
    private static ImmutableArray<string> EdsNames(RepeatedField<Any> resources)
    {
        var names = new List<string>(resources.Count);
        foreach (var any in resources)
        {
            var name = EdsNameOfCluster.GetOrAdd(any.Value, static bytes =>
            {
                var c = Cluster.Parser.ParseFrom(bytes);
                return c.ClusterDiscoveryTypeCase == Cluster.ClusterDiscoveryTypeOneofCase.Type && c.Type == Cluster.Types.DiscoveryType.Eds
                    ? (string.IsNullOrEmpty(c.EdsClusterConfig?.ServiceName) ? c.Name : c.EdsClusterConfig.ServiceName)
                    : null;
            });
            if (name is not null)
            {
                names.Add(name);
            }
        }

        // skein-control sends clusters sorted by name, so the names usually arrive sorted: check before sorting.
        var sorted = true;
        for (var i = 1; i < names.Count && sorted; i++)
        {
            sorted = string.CompareOrdinal(names[i - 1], names[i]) < 0;
        }

        if (!sorted)
        {
            names.Sort(StringComparer.Ordinal);
            names = [.. names.Distinct(StringComparer.Ordinal)];
        }

        return [.. names];
    }

    private static ImmutableArray<string> RdsNames(RepeatedField<Any> resources)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var any in resources)
        {
            names.UnionWith(RdsNamesOfListener.GetOrAdd(any.Value, static bytes =>
            {
                var l = Listener.Parser.ParseFrom(bytes);
                var found = new List<string>();
                foreach (var chain in l.DefaultFilterChain is null ? l.FilterChains : l.FilterChains.Append(l.DefaultFilterChain))
                {
                    foreach (var f in chain.Filters)
                    {
                        if (f.TypedConfig?.TypeUrl == TypeUrls.HttpConnectionManager)
                        {
                            var hcm = f.TypedConfig.Unpack<HttpConnectionManager>();
                            if (hcm.RouteSpecifierCase == HttpConnectionManager.RouteSpecifierOneofCase.Rds)
                            {
                                found.Add(hcm.Rds.RouteConfigName);
                            }
                        }
                    }
                }

                return [.. found];
            }));
        }

        return [.. names];
    }
}
