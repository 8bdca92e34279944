using System.Net;
using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Skein.Xds;
using Skein.Xds.Envoy.Service.Discovery.V3;

namespace Skein.Proxy.Tests.Infrastructure;

/// <summary>
/// A scripted ADS server on Kestrel (gRPC, h2c): records every DiscoveryRequest and sends the responses a test
/// tells it to, on the current stream. It can stop and start again on the same port.
/// </summary>
internal sealed class TestAdsServer : AggregatedDiscoveryService.AggregatedDiscoveryServiceBase, IAsyncDisposable
{
    private readonly Channel<DiscoveryRequest> _requests = Channel.CreateUnbounded<DiscoveryRequest>();
    private WebApplication? _app;
    private IServerStreamWriter<DiscoveryResponse>? _stream;
    private TaskCompletionSource _streamOpen = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _nonce;

    public int Port { get; private set; }

    public int StreamsAccepted;

    public string Address => $"http://127.0.0.1:{Port}";

    public async Task StartAsync(int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(this);
        ListenOptions? listen = null;
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l =>
        {
            l.Protocols = HttpProtocols.Http2;
            listen = l;
        }));
        _app = builder.Build();
        _app.MapGrpcService<TestAdsServer>();
        await _app.StartAsync();
        Port = ((IPEndPoint)listen!.EndPoint).Port;
    }

    public async Task StopAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(1)).Token);
            await _app.DisposeAsync();
            _app = null;
        }

        _streamOpen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public override async Task StreamAggregatedResources(
        IAsyncStreamReader<DiscoveryRequest> requestStream, IServerStreamWriter<DiscoveryResponse> responseStream, ServerCallContext context)
    {
        Interlocked.Increment(ref StreamsAccepted);
        _stream = responseStream;
        _streamOpen.TrySetResult();
        try
        {
            await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
            {
                await _requests.Writer.WriteAsync(request);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
        }
    }

    /// <summary>The next request of <paramref name="typeUrl"/> (others are skipped); fails after 10 s.</summary>
    public async Task<DiscoveryRequest> NextAsync(string typeUrl)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            var r = await _requests.Reader.ReadAsync(timeout.Token);
            if (r.TypeUrl == typeUrl)
            {
                return r;
            }
        }
    }

    /// <summary>The next request whatever its type.</summary>
    public async Task<DiscoveryRequest> NextAnyAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await _requests.Reader.ReadAsync(timeout.Token);
    }

    /// <summary>Sends a response with <paramref name="resources"/>; returns its nonce.</summary>
    public async Task<string> SendAsync(string typeUrl, string version, params IMessage[] resources)
    {
        await _streamOpen.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var nonce = "n" + Interlocked.Increment(ref _nonce);
        var response = new DiscoveryResponse { TypeUrl = typeUrl, VersionInfo = version, Nonce = nonce };
        foreach (var r in resources)
        {
            response.Resources.Add(XdsAny.Pack(r, typeUrl));
        }

        await _stream!.WriteAsync(response);
        return nonce;
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
