using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Skein.Proxy.Tests.Telemetry;

/// <summary>One span as an OTLP/HTTP JSON request carried it.</summary>
internal sealed record ReceivedSpan(
    string TraceId, string SpanId, string? ParentSpanId, string Name, int Kind, int StatusCode, string ServiceName, IReadOnlyDictionary<string, string> Attributes)
{
    public const int Server = 2;
    public const int Client = 3;
}

/// <summary>A plain OTLP/HTTP receiver (<c>POST /v1/traces</c>, JSON encoding) on loopback, as any collector would be.</summary>
internal sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();

    private OtlpReceiver(WebApplication app) => _app = app;

    public string Url { get; private set; } = string.Empty;

    public IReadOnlyList<ReceivedSpan> Spans => [.. _spans];

    public int Requests;

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/traces", async (HttpContext ctx) =>
        {
            Interlocked.Increment(ref receiver.Requests);
            if (ctx.Request.ContentType?.StartsWith("application/json", StringComparison.Ordinal) != true)
            {
                return Results.StatusCode(415);
            }

            using var doc = await JsonDocument.ParseAsync(ctx.Request.Body);
            receiver.Add(doc.RootElement);
            return Results.Ok(new { });
        });
        await app.StartAsync();
        receiver.Url = app.Urls.First() + "/v1/traces";
        return receiver;
    }

    /// <summary>Waits (bounded) until <paramref name="predicate"/> holds over the received spans.</summary>
    public async Task<IReadOnlyList<ReceivedSpan>> WaitForAsync(Func<IReadOnlyList<ReceivedSpan>, bool> predicate, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var spans = Spans;
            if (predicate(spans))
            {
                return spans;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"spans received: {spans.Count}\n" + string.Join("\n", spans.Select(s => $"{s.TraceId} {s.SpanId} <- {s.ParentSpanId} {s.Kind} {s.Name}")));
            }

            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private void Add(JsonElement root)
    {
        foreach (var rs in root.GetProperty("resourceSpans").EnumerateArray())
        {
            var service = string.Empty;
            foreach (var a in rs.GetProperty("resource").GetProperty("attributes").EnumerateArray())
            {
                if (a.GetProperty("key").GetString() == "service.name")
                {
                    service = a.GetProperty("value").GetProperty("stringValue").GetString()!;
                }
            }

            foreach (var ss in rs.GetProperty("scopeSpans").EnumerateArray())
            {
                foreach (var s in ss.GetProperty("spans").EnumerateArray())
                {
                    var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (var a in s.GetProperty("attributes").EnumerateArray())
                    {
                        attributes[a.GetProperty("key").GetString()!] = a.GetProperty("value").GetProperty("stringValue").GetString()!;
                    }

                    _spans.Enqueue(new ReceivedSpan(
                        s.GetProperty("traceId").GetString()!,
                        s.GetProperty("spanId").GetString()!,
                        s.TryGetProperty("parentSpanId", out var p) ? p.GetString() : null,
                        s.GetProperty("name").GetString()!,
                        s.GetProperty("kind").GetInt32(),
                        s.GetProperty("status").GetProperty("code").GetInt32(),
                        service,
                        attributes));
                }
            }
        }
    }
}
