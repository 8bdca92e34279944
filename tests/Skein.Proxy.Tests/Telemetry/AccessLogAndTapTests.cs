using System.Net;
using System.Text.Json;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests.Telemetry;

/// <summary>The JSON access log and the admin tap stream, as an operator reads them.</summary>
public sealed class AccessLogAndTapTests
{
    [Fact]
    public async Task AccessLog_OneJsonLinePerRequest_WithWorkloadsTraceAndUpstream()
    {
        await using var mesh = await TelemetryMesh.StartAsync(sampling: 100);
        using var client = mesh.Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/reviews/9?q=1") { Content = new StringContent("hello") };

        using var response = await client.SendAsync(request);
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());

        var outbound = await mesh.Source.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/reviews/9?q=1");
        var inbound = await mesh.Destination.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/reviews/9?q=1");
        var traceId = echo.Headers["traceparent"].Split('-')[1];
        foreach (var e in new[] { outbound, inbound })
        {
            Assert.Equal("POST", e.GetProperty("method").GetString());
            Assert.Equal("reviews:9080", e.GetProperty("authority").GetString());
            Assert.Equal("HTTP/1.1", e.GetProperty("protocol").GetString());
            Assert.Equal(200, e.GetProperty("response_code").GetInt32());
            Assert.Equal("-", e.GetProperty("response_flags").GetString());
            Assert.Equal(5, e.GetProperty("bytes_received").GetInt64());
            Assert.True(e.GetProperty("bytes_sent").GetInt64() > 0);
            Assert.True(e.GetProperty("duration").GetInt64() >= 0);
            Assert.Equal(echo.Headers["x-request-id"], e.GetProperty("request_id").GetString());
            Assert.Equal(traceId, e.GetProperty("trace_id").GetString());
            Assert.Equal("productpage-v1", e.GetProperty("source_workload").GetString());
            Assert.Equal("reviews-v2", e.GetProperty("destination_workload").GetString());
            Assert.Equal(TelemetryMesh.ServiceHost, e.GetProperty("destination_service").GetString());
            Assert.StartsWith("127.0.0.1:", e.GetProperty("upstream_host").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal("source", outbound.GetProperty("reporter").GetString());
        Assert.Equal(TelemetryMesh.OutboundCluster, outbound.GetProperty("upstream_cluster").GetString());
        Assert.Equal($"127.0.0.1:{mesh.Destination.InboundPort}", outbound.GetProperty("upstream_host").GetString());
        Assert.Equal("destination", inbound.GetProperty("reporter").GetString());
        Assert.Equal(TelemetryMesh.InboundCluster, inbound.GetProperty("upstream_cluster").GetString());
    }

    [Fact]
    public async Task AccessLog_NodeMetadataTurnsItOnPerWorkload()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        var bootstrap = Bootstraps.Backend(backend.Port).Replace(
            "\"cluster\": \"app\"", "\"cluster\": \"app\", \"metadata\": {\"WORKLOAD_NAME\": \"app-v1\", \"SKEIN_ACCESS_LOG\": \"true\"}", StringComparison.Ordinal);
        await using var quiet = await ProxyProcess.StartAsync(Bootstraps.Backend(backend.Port));
        await using var logging = await ProxyProcess.StartAsync(bootstrap);

        foreach (var p in new[] { quiet, logging })
        {
            using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false });
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{p.OutboundPort}/logged");
            request.Headers.Host = "backend:9080";
            Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(request)).StatusCode);
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!logging.Output.Contains("\"path\":\"/logged\"", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var line = logging.Output.Split('\n').Single(l => l.Contains("\"path\":\"/logged\"", StringComparison.Ordinal));
        using var json = JsonDocument.Parse(line);
        Assert.Equal("app-v1", json.RootElement.GetProperty("source_workload").GetString());
        Assert.DoesNotContain("/logged", quiet.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tap_StreamsOnlyRequestsMatchingPathAndMethod()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var proxy = await TestProxy.StartExplicitAsync();
        proxy.Apply([XdsConfig.HttpListener(80, "80")], [XdsConfig.CatchAll("80", "web")], [XdsConfig.StaticCluster("web", [backend.Port])]);
        using var admin = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

        using var tap = await admin.GetAsync($"http://127.0.0.1:{proxy.AdminPort}/tap?path=/a/&method=GET&limit=2", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, tap.StatusCode); // headers come at once: the tap is live
        Assert.Equal("application/x-ndjson", tap.Content.Headers.ContentType?.MediaType);
        (await proxy.SendAsync("web", "/a/1")).Dispose();
        (await proxy.SendAsync("web", "/b/1")).Dispose();
        (await proxy.SendAsync("web", "/a/2", HttpMethod.Post)).Dispose();
        (await proxy.SendAsync("web", "/a/3")).Dispose();
        var body = await tap.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(10)); // ends after limit=2

        var lines = body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["/a/1", "/a/3"], lines.Select(l => l.GetProperty("path").GetString()));
        Assert.All(lines, l => Assert.Equal(200, l.GetProperty("response_code").GetInt32()));
        Assert.All(lines, l => Assert.Equal("web", l.GetProperty("upstream_cluster").GetString()));
    }

    [Fact]
    public async Task Tap_BadFilter_400WithFieldName()
    {
        await using var proxy = await TestProxy.StartExplicitAsync();
        using var admin = new HttpClient();

        using var response = await admin.GetAsync($"http://127.0.0.1:{proxy.AdminPort}/tap?direction=sideways");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("direction", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tap_NoSubscriber_CostsNothingAndClientGoneUnsubscribes()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var proxy = await TestProxy.StartExplicitAsync();
        proxy.Apply([XdsConfig.HttpListener(80, "80")], [XdsConfig.CatchAll("80", "web")], [XdsConfig.StaticCluster("web", [backend.Port])]);
        Assert.False(proxy.Host.Tap.HasSubscribers);

        using (var admin = new HttpClient())
        {
            using var cts = new CancellationTokenSource();
            using var tap = await admin.GetAsync($"http://127.0.0.1:{proxy.AdminPort}/tap", HttpCompletionOption.ResponseHeadersRead, cts.Token);
            Assert.True(proxy.Host.Tap.HasSubscribers);
        }

        // The client went away: the next request finds the broken stream and the subscription ends.
        for (var i = 0; i < 50 && proxy.Host.Tap.HasSubscribers; i++)
        {
            (await proxy.SendAsync("web", "/after")).Dispose();
            await Task.Delay(100);
        }

        Assert.False(proxy.Host.Tap.HasSubscribers);
    }
}
