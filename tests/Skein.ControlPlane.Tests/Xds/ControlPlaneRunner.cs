using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Skein.ControlPlane.Registry;
using Skein.ControlPlane.Translation;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Service.Discovery.V3;

namespace Skein.ControlPlane.Tests.Xds;

/// <summary>A real skein-control in process on 127.0.0.1 port 0, with a config directory and the bookstore's instances registered.</summary>
internal sealed class ControlPlaneRunner : IAsyncDisposable
{
    private readonly string _root;

    private ControlPlaneRunner(string root, ControlPlaneHost host)
    {
        _root = root;
        Host = host;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.HttpPort}") };
        Channel = GrpcChannel.ForAddress($"http://127.0.0.1:{host.XdsPort}");
    }

    public ControlPlaneHost Host { get; }

    public HttpClient Http { get; }

    public GrpcChannel Channel { get; }

    public string ConfigDir => Path.Combine(_root, "config");

    public static async Task<ControlPlaneRunner> StartAsync(string yaml, TimeSpan? debounce = null, string? dataDir = null)
    {
        var root = Path.Combine(Path.GetTempPath(), "skein-control-tests", Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(Path.Combine(root, "config"));
        File.WriteAllText(Path.Combine(root, "config", "mesh.yaml"), yaml);
        var options = new ControlPlaneOptions
        {
            ConfigDir = Path.Combine(root, "config"),
            XdsPort = 0,
            SecureXdsPort = 0,
            HttpPort = 0,
            XdsAddress = "127.0.0.1",
            HttpAddress = "127.0.0.1",
            DataDir = dataDir,
            PushDebounce = debounce ?? TimeSpan.FromMilliseconds(50),
            WatchDebounce = TimeSpan.FromMilliseconds(50),
        };
        var host = ControlPlaneHost.Create(options, logging => logging.SetMinimumLevel(LogLevel.Warning));
        await host.StartAsync();
        foreach (var registration in TestMesh.Registrations(host.Store.Current.Resources.OfType<Skein.Api.Model.Workload>()))
        {
            host.Registry.Register(registration);
        }

        return new ControlPlaneRunner(root, host);
    }

    public AdsTestClient Connect(string instanceId, string mode = "sidecar") => new(Channel, TestMesh.NodeMessage(instanceId, mode));

    public AdsTestClient Connect(Node node) => new(Channel, node);

    public async Task<(int Status, JsonDocument Body)> PostConfigAsync(string yaml, string file = "test.yaml")
    {
        using var content = new StringContent(yaml, Encoding.UTF8, new MediaTypeHeaderValue("application/yaml"));
        using var response = await Http.PostAsync($"/api/v1/config?file={file}", content);
        return ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()));
    }

    public async Task<JsonDocument> GetJsonAsync(string path) => JsonDocument.Parse(await Http.GetStringAsync(path));

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        Http.Dispose();
        await Host.StopAsync();
        await Host.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>An ADS stream as a proxy would drive it: subscribe, read responses, ACK or NACK them.</summary>
internal sealed class AdsTestClient : IAsyncDisposable
{
    private readonly AsyncDuplexStreamingCall<DiscoveryRequest, DiscoveryResponse> _call;
    private readonly Channel<DiscoveryResponse> _responses = System.Threading.Channels.Channel.CreateUnbounded<DiscoveryResponse>();
    private readonly Task _pump;
    private readonly CancellationTokenSource _stop = new();
    private bool _sentNode;

    public AdsTestClient(GrpcChannel channel, Node node)
    {
        Node = node;
        var client = new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(channel);
        _call = client.StreamAggregatedResources(cancellationToken: _stop.Token);
        _pump = Task.Run(async () =>
        {
            try
            {
                await foreach (var r in _call.ResponseStream.ReadAllAsync(_stop.Token))
                {
                    _responses.Writer.TryWrite(r);
                }
            }
            catch (Exception e) when (e is RpcException or OperationCanceledException)
            {
            }
            finally
            {
                _responses.Writer.TryComplete();
            }
        });
    }

    public Node Node { get; }

    public Task SendAsync(DiscoveryRequest request)
    {
        if (!_sentNode)
        {
            request.Node = Node;
            _sentNode = true;
        }

        return _call.RequestStream.WriteAsync(request);
    }

    public Task SubscribeAsync(string typeUrl, params string[] names)
    {
        var request = new DiscoveryRequest { TypeUrl = typeUrl };
        request.ResourceNames.AddRange(names);
        return SendAsync(request);
    }

    public Task AckAsync(DiscoveryResponse response, params string[] names)
    {
        var request = new DiscoveryRequest { TypeUrl = response.TypeUrl, VersionInfo = response.VersionInfo, ResponseNonce = response.Nonce };
        request.ResourceNames.AddRange(names);
        return SendAsync(request);
    }

    public Task NackAsync(DiscoveryResponse response, string lastGoodVersion, string message, params string[] names)
    {
        var request = new DiscoveryRequest
        {
            TypeUrl = response.TypeUrl,
            VersionInfo = lastGoodVersion,
            ResponseNonce = response.Nonce,
            ErrorDetail = new Skein.Xds.GoogleRpc.Status { Code = 3, Message = message },
        };
        request.ResourceNames.AddRange(names);
        return SendAsync(request);
    }

    public async Task<DiscoveryResponse> NextAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        return await _responses.Reader.ReadAsync(cts.Token);
    }

    /// <summary>The next response within <paramref name="wait"/>, or null when none came.</summary>
    public async Task<DiscoveryResponse?> TryNextAsync(TimeSpan wait)
    {
        using var cts = new CancellationTokenSource(wait);
        try
        {
            return await _responses.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException)
        {
        }

        await _stop.CancelAsync();
        try
        {
            await _pump;
        }
        catch (OperationCanceledException)
        {
        }

        _call.Dispose();
        _stop.Dispose();
    }

    public static IReadOnlyList<string> Names(DiscoveryResponse response, Func<Any, string> name) => [.. response.Resources.Select(name)];
}
