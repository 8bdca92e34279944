using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Skein.ControlPlane.Telemetry;
using Skein.ControlPlane.Tests.Tracing;
using Skein.ControlPlane.Tests.Translation;
using Skein.ControlPlane.Tests.Xds;
using Skein.ControlPlane.Translation;
using Skein.Xds;

namespace Skein.ControlPlane.Tests.Telemetry;

/// <summary>
/// skein-control with telemetry on, over real HTTP on loopback: a fake sidecar serves Istio metrics text on its
/// own port, a proxy connected over ADS names that port in ENVOY_PROMETHEUS_PORT, the embedded scraper reads it.
/// </summary>
public sealed class TelemetryApiTests : IAsyncLifetime, IDisposable
{
    private readonly FakeSidecar _sidecar = new();
    private ControlPlaneHost? _host;
    private HttpClient? _api;

    public async Task InitializeAsync()
    {
        await _sidecar.StartAsync();
        var options = new ControlPlaneOptions
        {
            XdsPort = 0,
            SecureXdsPort = 0,
            HttpPort = 0,
            XdsAddress = "127.0.0.1",
            HttpAddress = "127.0.0.1",
            DashboardPort = 0,
            OtlpPort = 0,
            ScrapeInterval = TimeSpan.FromSeconds(1),
        };
        _host = ControlPlaneHost.Create(options, logging => logging.SetMinimumLevel(LogLevel.Warning));
        await _host.StartAsync();
        _api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_host.HttpPort}") };
        var config = await _api.PostAsync("/api/v1/config", new StringContent(SimulationTests.Input("bookstore"), Encoding.UTF8, "application/yaml"));
        Assert.True(config.IsSuccessStatusCode, await config.Content.ReadAsStringAsync());
        foreach (var registration in TestMesh.Registrations(_host.Store.Current.Resources.OfType<Skein.Api.Model.Workload>()))
        {
            _host.Registry.Register(registration);
        }
    }

    public async Task DisposeAsync()
    {
        _api?.Dispose();
        if (_host is not null)
        {
            await _host.StopAsync();
            await _host.DisposeAsync();
        }

        await _sidecar.DisposeAsync();
    }

    public void Dispose() => _api?.Dispose();

    private ObservabilityHosting Hosting => (ObservabilityHosting)_host!.Services.GetService(typeof(ObservabilityHosting))!;

    [Fact]
    public async Task Stat_ScrapedSidecar_WorkloadsAndServicesWithSuccessRateAndLatency()
    {
        var inbound = IstioText.Flow("destination", "frontend", "reviews-v2", "reviews");
        var outbound = IstioText.Flow("source", "reviews-v2", "ratings", "ratings");
        var faulted = IstioText.Flow("source", "reviews-v2", "unknown", "ratings");
        _sidecar.Text = new IstioText().Requests(inbound, "200", 0).Requests(inbound, "503", 0).Durations(inbound).Requests(outbound, "200", 0, "0").ToString();
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{_host!.XdsPort}");
        await using var proxy = new AdsTestClient(channel, SidecarNode("reviews-v2-0", _sidecar.Port));
        await proxy.SubscribeAsync(TypeUrls.Cluster);
        await proxy.NextAsync();
        await _sidecar.WaitForScrapesAsync(2);

        _sidecar.Text = new IstioText()
            .Requests(inbound, "200", 90).Requests(inbound, "503", 10)
            .Durations(inbound, [.. Enumerable.Repeat(3.0, 50), .. Enumerable.Repeat(20.0, 50)])
            .Requests(outbound, "200", 30, "0").Requests(faulted, "500", 30)
            .ToString();
        await _sidecar.WaitForScrapesAsync(_sidecar.Scrapes + 2);

        using var workloads = await GetJsonAsync("/api/v1/telemetry/stat?kind=workload&window=1m");
        var reviews = workloads.RootElement.GetProperty("rows").EnumerateArray().Single(r => r.GetProperty("name").GetString() == "reviews-v2");
        Assert.Equal(0.9, reviews.GetProperty("successRate").GetDouble(), 6);
        Assert.True(reviews.GetProperty("rps").GetDouble() > 0);
        Assert.Equal(5.0, reviews.GetProperty("p50").GetDouble(), 6); // rank 50 ends the (1,5] bucket
        Assert.Equal(10 + (15 * 49 / 50.0), reviews.GetProperty("p99").GetDouble(), 6); // rank 99 in (10,25]: 10 + 15 * 49/50
        Assert.Contains(workloads.RootElement.GetProperty("rows").EnumerateArray(), r => r.GetProperty("name").GetString() == "catalog" && !r.GetProperty("traffic").GetBoolean());

        using var services = await GetJsonAsync("/api/v1/telemetry/stat?kind=service");
        var ratings = services.RootElement.GetProperty("rows").EnumerateArray().Single(r => r.GetProperty("name").GetString() == "ratings");
        Assert.Equal(0.5, ratings.GetProperty("successRate").GetDouble(), 6);

        using var edges = await GetJsonAsync("/api/v1/telemetry/edges");
        var edge = edges.RootElement.GetProperty("edges").EnumerateArray()
            .Single(e => e.GetProperty("source").GetString() == "workload:default/reviews-v2" && e.GetProperty("target").GetString() == "service:default/ratings");
        Assert.Equal(0.5, edge.GetProperty("successRate").GetDouble(), 6);
        Assert.Contains(edges.RootElement.GetProperty("nodes").EnumerateArray(), n => n.GetProperty("id").GetString() == "workload:default/frontend");

        using var series = await GetJsonAsync("/api/v1/telemetry/series?workload=reviews-v2&range=1m&step=5s");
        var points = series.RootElement.GetProperty("points").EnumerateArray().ToList();
        Assert.NotEmpty(points);
        Assert.Contains(points, p => p.GetProperty("successRate").ValueKind == JsonValueKind.Number && Math.Abs(p.GetProperty("successRate").GetDouble() - 0.9) < 1e-6);
    }

    [Fact]
    public async Task Stat_BadArguments_400WithTheReason()
    {
        var kind = await _api!.GetAsync("/api/v1/telemetry/stat?kind=pod");
        var window = await _api.GetAsync("/api/v1/telemetry/stat?window=soon");
        var series = await _api.GetAsync("/api/v1/telemetry/series");

        Assert.Equal(HttpStatusCode.BadRequest, kind.StatusCode);
        Assert.Contains("kind must be workload or service", await kind.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("window: \\u0022soon\\u0022 is not a duration", await window.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, series.StatusCode);
    }

    [Fact]
    public async Task Otlp_JsonAndProtobufOnTheReceiverPort_TraceTreeFromTheApi()
    {
        using var otlp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Hosting.OtlpPort}") };
        var hops = Otlp.ThreeHops();
        using var json = new StringContent(Otlp.Json(hops.Take(2)), Encoding.UTF8, "application/json");
        using var proto = new ByteArrayContent(Otlp.Protobuf(hops.Skip(2)));
        proto.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");

        var jsonAnswer = await otlp.PostAsync("/v1/traces", json);
        var protoAnswer = await otlp.PostAsync("/v1/traces", proto);

        Assert.Equal(HttpStatusCode.OK, jsonAnswer.StatusCode);
        Assert.Equal("{}", (await jsonAnswer.Content.ReadAsStringAsync()).Trim());
        Assert.Equal(HttpStatusCode.OK, protoAnswer.StatusCode);
        Assert.Equal("application/x-protobuf", protoAnswer.Content.Headers.ContentType?.MediaType);
        using var list = await GetJsonAsync("/api/v1/traces");
        var summary = Assert.Single(list.RootElement.GetProperty("traces").EnumerateArray());
        Assert.Equal((Otlp.TraceId, 5, 40.0), (summary.GetProperty("traceId").GetString(), summary.GetProperty("spanCount").GetInt32(), summary.GetProperty("durationMs").GetDouble()));
        using var trace = await GetJsonAsync($"/api/v1/traces/{Otlp.TraceId}");
        var spans = trace.RootElement.GetProperty("spans").EnumerateArray().ToList();
        Assert.Equal(["frontend", "frontend", "reviews-v2", "reviews-v2", "ratings"], spans.Select(s => s.GetProperty("service").GetString()));
        Assert.Equal([0, 1, 2, 3, 4], spans.Select(s => s.GetProperty("depth").GetInt32()));
        Assert.Equal(12.0, spans[4].GetProperty("offsetMs").GetDouble());
        Assert.Equal("server", spans[4].GetProperty("kind").GetString());
    }

    [Fact]
    public async Task Otlp_BadRequests_OtlpStatusCodes()
    {
        using var otlp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Hosting.OtlpPort}") };

        var text = await otlp.PostAsync("/v1/traces", new StringContent("hello", Encoding.UTF8, "text/plain"));
        var broken = await otlp.PostAsync("/v1/traces", new StringContent("{\"resourceSpans\":", Encoding.UTF8, "application/json"));
        var api = await otlp.GetAsync("/api/v1/config");

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, text.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, broken.StatusCode);
        Assert.Contains("invalid JSON", await broken.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, api.StatusCode); // the receiver's port serves nothing else
    }

    [Fact]
    public async Task Dashboard_Port_ServesPagesAndReadsOnly()
    {
        using var dashboard = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Hosting.DashboardPort}") };

        var index = await dashboard.GetStringAsync("/");
        var script = await dashboard.GetAsync("/dashboard.js");
        var stat = await dashboard.GetAsync("/api/v1/telemetry/stat");
        var proxies = await dashboard.GetAsync("/api/v1/proxies");
        var config = await dashboard.GetAsync("/api/v1/config");
        var write = await dashboard.PostAsync("/api/v1/config", new StringContent("kind: Service", Encoding.UTF8, "application/yaml"));
        using var info = await GetJsonAsync("/api/v1/telemetry/info");

        Assert.Contains("<script src=\"dashboard.js\">", index, StringComparison.Ordinal);
        Assert.DoesNotContain("http", index.Replace("http-equiv", "", StringComparison.Ordinal), StringComparison.Ordinal); // nothing loaded from elsewhere
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.OK, stat.StatusCode);
        Assert.Equal(HttpStatusCode.OK, proxies.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, config.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, write.StatusCode);
        Assert.Equal($"http://127.0.0.1:{Hosting.DashboardPort}/", info.RootElement.GetProperty("dashboardUrl").GetString());
        Assert.Equal("embedded", info.RootElement.GetProperty("source").GetString());
    }

    [Fact]
    public async Task XdsPort_HttpApi_NotServed()
    {
        using var h2c = new HttpClient(new SocketsHttpHandler()) { BaseAddress = new Uri($"http://127.0.0.1:{_host!.XdsPort}"), DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };

        var response = await h2c.GetAsync("/api/v1/config");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    private async Task<JsonDocument> GetJsonAsync(string path)
    {
        var response = await _api!.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body);
    }

    private static Skein.Xds.Envoy.Config.Core.V3.Node SidecarNode(string instance, int statsPort)
    {
        var node = TestMesh.NodeMessage(instance);
        node.Id = $"sidecar~127.0.0.1~{instance}.default~default.svc.cluster.local";
        node.Metadata.Fields[ProxyNode.WorkloadNameKey] = Value.ForString("reviews-v2");
        node.Metadata.Fields[ProxyNode.InstanceIpsKey] = Value.ForString("127.0.0.1");
        node.Metadata.Fields[ProxyNode.PrometheusPortKey] = Value.ForNumber(statsPort);
        return node;
    }

    /// <summary>A sidecar's stats port: serves whatever text the test sets and counts the scrapes.</summary>
    private sealed class FakeSidecar : IAsyncDisposable
    {
        private WebApplication? _app;
        private int _scrapes;

        public volatile string Text = "";

        public int Port { get; private set; }

        public int Scrapes => Volatile.Read(ref _scrapes);

        public async Task StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            _app = builder.Build();
            _app.MapGet("/stats/prometheus", () =>
            {
                var text = Text;
                Interlocked.Increment(ref _scrapes);
                return Results.Text(text, "text/plain; version=0.0.4");
            });
            await _app.StartAsync();
            Port = new Uri(_app.Urls.First()).Port;
        }

        public async Task WaitForScrapesAsync(int count)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (Scrapes < count)
            {
                Assert.True(DateTime.UtcNow < deadline, $"the scraper made {Scrapes} scrapes, expected {count}");
                await Task.Delay(50);
            }

            await Task.Delay(100); // let the round commit
        }

        public async ValueTask DisposeAsync()
        {
            if (_app is not null)
            {
                await _app.DisposeAsync();
            }
        }
    }
}
