using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Skein.Proxy.Tests.Infrastructure;

/// <summary>What a <see cref="ScriptedBackend"/> saw of one request.</summary>
internal sealed record SeenRequest(int Index, string Method, string Path, string Host, int RemotePort, IReadOnlyDictionary<string, string> Headers, long BodyLength);

/// <summary>
/// A real Kestrel backend on 127.0.0.1 whose behaviour a test scripts per request (status, delay, reset, gRPC
/// status), recording every request it saw: headers, authority, the client port (one per connection) and the
/// body length. Every response names the backend in <c>x-backend</c>.
/// </summary>
internal sealed class ScriptedBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<SeenRequest> _seen = new();
    private int _count;

    private ScriptedBackend(WebApplication app, string name)
    {
        _app = app;
        Name = name;
    }

    public string Name { get; }

    public int Port { get; private set; }

    /// <summary>Answers a request (its index is 0-based); the default answers 200 with the backend's name.</summary>
    public Func<HttpContext, int, Task> Handler { get; set; } = (ctx, _) => ctx.Response.WriteAsync(string.Empty);

    public int Count => Volatile.Read(ref _count);

    public IReadOnlyList<SeenRequest> Seen => [.. _seen];

    public static async Task<ScriptedBackend> StartAsync(string name, bool http2 = false)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
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
        var backend = new ScriptedBackend(app, name);
        app.Run(async ctx =>
        {
            var index = Interlocked.Increment(ref backend._count) - 1;
            long length = 0;
            var buffer = new byte[16 * 1024];
            int n;
            while ((n = await ctx.Request.Body.ReadAsync(buffer, ctx.RequestAborted)) > 0)
            {
                length += n;
            }

            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var h in ctx.Request.Headers)
            {
                headers[h.Key] = h.Value.ToString();
            }

            backend._seen.Enqueue(new SeenRequest(
                index, ctx.Request.Method, ctx.Request.Path + ctx.Request.QueryString, ctx.Request.Host.Value ?? string.Empty,
                ctx.Connection.RemotePort, headers, length));
            ctx.Response.Headers["x-backend"] = name;
            await backend.Handler(ctx, index);
        });
        await app.StartAsync();
        backend.Port = ((IPEndPoint)listen!.EndPoint).Port;
        return backend;
    }

    /// <summary>A handler that answers <paramref name="status"/> for the requests <paramref name="fails"/> selects, 200 otherwise.</summary>
    public static Func<HttpContext, int, Task> FailWhen(Func<int, bool> fails, int status = 503) => (ctx, i) =>
    {
        ctx.Response.StatusCode = fails(i) ? status : 200;
        return ctx.Response.WriteAsync(string.Empty);
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(TimeSpan.FromSeconds(1).ToCancellationToken());
        await _app.DisposeAsync();
    }
}
