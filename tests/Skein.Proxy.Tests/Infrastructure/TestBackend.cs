using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Skein.Proxy.Tests.Grpc;

namespace Skein.Proxy.Tests.Infrastructure;

/// <summary>
/// A real Kestrel backend on 127.0.0.1 (port 0). Every response names the backend (<c>x-backend</c>) and echoes
/// the request as JSON. Paths: <c>/slow?ms=N</c>, <c>/reset</c>, <c>/bytes?n=N</c> (streamed), <c>/upload</c>
/// (counts the body), <c>/ws</c> (WebSocket echo); gRPC <c>skein.test.Echo</c> on HTTP/2 backends.
/// </summary>
internal sealed class TestBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestBackend(WebApplication app, string name)
    {
        _app = app;
        Name = name;
    }

    public string Name { get; }

    public int Port { get; private set; }

    public int Requests;

    /// <summary>Starts a backend; <paramref name="http2"/> makes it h2c only (prior knowledge), which gRPC needs.</summary>
    public static async Task<TestBackend> StartAsync(string name, bool http2 = false)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        ListenOptions? listen = null;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.Listen(IPAddress.Loopback, 0, l =>
            {
                l.Protocols = http2 ? HttpProtocols.Http2 : HttpProtocols.Http1;
                listen = l;
            });
        });
        var app = builder.Build();
        var backend = new TestBackend(app, name);
        app.UseWebSockets();
        app.MapGrpcService<EchoService>();
        app.Use(async (ctx, next) =>
        {
            Interlocked.Increment(ref backend.Requests);
            ctx.Response.Headers["x-backend"] = name;
            if (ctx.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true)
            {
                await next(ctx);
                return;
            }

            await backend.HandleAsync(ctx);
        });
        await app.StartAsync();
        backend.Port = ((IPEndPoint)listen!.EndPoint).Port;
        return backend;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(TimeSpan.FromSeconds(1).ToCancellationToken());
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value ?? "/";
        var query = ctx.Request.Query;
        switch (path)
        {
            case "/slow":
                await Task.Delay(int.Parse(query["ms"].ToString() is { Length: > 0 } ms ? ms : "1000"), ctx.RequestAborted);
                break;
            case "/reset":
                ctx.Abort();
                return;
            case "/bytes":
                await StreamBytesAsync(ctx, long.Parse(query["n"].ToString()));
                return;
            case "/upload":
                var total = 0L;
                var buffer = new byte[64 * 1024];
                int n;
                while ((n = await ctx.Request.Body.ReadAsync(buffer, ctx.RequestAborted)) > 0)
                {
                    total += n;
                }

                await ctx.Response.WriteAsync(total.ToString(System.Globalization.CultureInfo.InvariantCulture));
                return;
            case "/ws" when ctx.WebSockets.IsWebSocketRequest:
                await EchoWebSocketAsync(await ctx.WebSockets.AcceptWebSocketAsync());
                return;
        }

        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var h in ctx.Request.Headers)
        {
            headers[h.Key.ToLowerInvariant()] = h.Value.ToString();
        }

        var body = JsonSerializer.Serialize(new EchoReply(
            Name,
            ctx.Request.Method,
            ctx.Features.Get<IHttpRequestFeature>()!.RawTarget,
            ctx.Request.Protocol,
            ctx.Request.Host.Value ?? string.Empty,
            headers));
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(body);
    }

    private static async Task StreamBytesAsync(HttpContext ctx, long total)
    {
        ctx.Response.ContentLength = total;
        var chunk = new byte[64 * 1024];
        Array.Fill(chunk, (byte)'x');
        while (total > 0)
        {
            var n = (int)Math.Min(chunk.Length, total);
            await ctx.Response.Body.WriteAsync(chunk.AsMemory(0, n), ctx.RequestAborted);
            total -= n;
        }
    }

    private static async Task EchoWebSocketAsync(WebSocket ws)
    {
        var buffer = new byte[4096];
        while (true)
        {
            var r = await ws.ReceiveAsync(buffer, CancellationToken.None);
            if (r.MessageType == WebSocketMessageType.Close)
            {
                await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                return;
            }

            await ws.SendAsync(buffer.AsMemory(0, r.Count), r.MessageType, r.EndOfMessage, CancellationToken.None);
        }
    }
}

/// <summary>What the echo backend answers.</summary>
internal sealed record EchoReply(string Name, string Method, string Path, string Protocol, string Host, SortedDictionary<string, string> Headers)
{
    private static readonly JsonSerializerOptions Options = new() { PropertyNameCaseInsensitive = true };

    public static EchoReply Parse(string json) => JsonSerializer.Deserialize<EchoReply>(json, Options)!;
}

/// <summary>The gRPC echo service: unary (optionally slow) and bidirectional streaming with trailers.</summary>
internal sealed class EchoService : Echo.EchoBase
{
    public override async Task<EchoMessage> Unary(EchoMessage request, ServerCallContext context)
    {
        if (request.DelayMs > 0)
        {
            await Task.Delay(request.DelayMs, context.CancellationToken);
        }

        context.ResponseTrailers.Add("x-echo-trailer", "unary:" + request.Text);
        return new EchoMessage { Text = "echo:" + request.Text };
    }

    public override async Task Bidi(IAsyncStreamReader<EchoMessage> requestStream, IServerStreamWriter<EchoMessage> responseStream, ServerCallContext context)
    {
        var count = 0;
        await foreach (var m in requestStream.ReadAllAsync(context.CancellationToken))
        {
            count++;
            await responseStream.WriteAsync(new EchoMessage { Text = "echo:" + m.Text });
        }

        context.ResponseTrailers.Add("x-echo-count", count.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}

/// <summary>A raw TCP server on 127.0.0.1: echoes, or (server-first) greets before reading.</summary>
internal sealed class TcpEchoServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;

    public TcpEchoServer(string? greeting = null)
    {
        _listener.Start();
        _accept = AcceptLoopAsync(greeting);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accept;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task AcceptLoopAsync(string? greeting)
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    var stream = client.GetStream();
                    if (greeting is not null)
                    {
                        await stream.WriteAsync(Encoding.ASCII.GetBytes(greeting));
                    }

                    var buffer = new byte[8192];
                    int n;
                    while ((n = await stream.ReadAsync(buffer)) > 0)
                    {
                        await stream.WriteAsync(buffer.AsMemory(0, n));
                    }

                    client.Client.Shutdown(SocketShutdown.Send); // half-close back after the peer's FIN
                }
            });
        }
    }
}

internal static class TimeSpanExtensions
{
    public static CancellationToken ToCancellationToken(this TimeSpan t) => new CancellationTokenSource(t).Token;
}
