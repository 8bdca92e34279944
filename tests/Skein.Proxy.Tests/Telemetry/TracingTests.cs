using System.Net;
using Skein.Proxy.Tests.Infrastructure;
using Skein.Proxy.Tracing;

namespace Skein.Proxy.Tests.Telemetry;

/// <summary>Trace context through two real proxies, and the spans they export to an OTLP/HTTP receiver.</summary>
public sealed class TracingTests
{
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string ParentId = "00f067aa0ba902b7";

    [Fact]
    public async Task IncomingTraceparent_Continued_SpansLinkClientToServerAcrossProxies()
    {
        await using var mesh = await TelemetryMesh.StartAsync(sampling: 0); // the incoming sampled flag decides
        using var client = mesh.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/reviews/1");
        request.Headers.Add("traceparent", $"00-{TraceId}-{ParentId}-01");
        request.Headers.Add("tracestate", "vendor=x");

        using var response = await client.SendAsync(request);
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());
        var spans = await mesh.Receiver.WaitForAsync(s => s.Count >= 2);

        var clientSpan = Assert.Single(spans, s => s.Kind == ReceivedSpan.Client);
        var serverSpan = Assert.Single(spans, s => s.Kind == ReceivedSpan.Server);
        Assert.Equal(TraceId, clientSpan.TraceId);
        Assert.Equal(TraceId, serverSpan.TraceId);
        Assert.Equal(ParentId, clientSpan.ParentSpanId); // the client span continues the caller's span
        Assert.Equal(clientSpan.SpanId, serverSpan.ParentSpanId); // the server span is the client span's child
        Assert.NotEqual(ParentId, clientSpan.SpanId);
        Assert.Equal($"00-{TraceId}-{serverSpan.SpanId}-01", echo.Headers["traceparent"]); // the app sees the server span as parent
        Assert.Equal("vendor=x", echo.Headers["tracestate"]);
        Assert.Equal(serverSpan.SpanId, echo.Headers["x-b3-spanid"]);
        Assert.Equal(clientSpan.SpanId, echo.Headers["x-b3-parentspanid"]);
        Assert.Equal("productpage.default", clientSpan.ServiceName);
        Assert.Equal("reviews.default", serverSpan.ServiceName);
        Assert.Equal($"{TelemetryMesh.ServiceHost}:9080/*", clientSpan.Name);
        Assert.Equal($"{TelemetryMesh.ServiceHost}:9080/*", serverSpan.Name);
    }

    [Fact]
    public async Task Spans_CarryIstioAttributes()
    {
        await using var mesh = await TelemetryMesh.StartAsync(sampling: 100);
        using var client = mesh.Client();

        using var response = await client.GetAsync("/reviews/2?x=1");
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());
        var spans = await mesh.Receiver.WaitForAsync(s => s.Count >= 2);

        var requestId = echo.Headers["x-request-id"];
        foreach (var span in spans)
        {
            var a = span.Attributes;
            Assert.Equal("GET", a["http.method"]);
            Assert.Equal("http://reviews:9080/reviews/2?x=1", a["http.url"]);
            Assert.Equal("200", a["http.status_code"]);
            Assert.Equal("-", a["response_flags"]);
            Assert.Equal(requestId, a["guid:x-request-id"]); // one request id across every hop
            Assert.Equal("proxy", a["component"]);
            Assert.Equal("default", a["istio.namespace"]);
            Assert.Equal("127.0.0.1", a["peer.address"]);
            Assert.Equal(0, span.StatusCode);
        }

        var clientSpan = spans.Single(s => s.Kind == ReceivedSpan.Client);
        var serverSpan = spans.Single(s => s.Kind == ReceivedSpan.Server);
        Assert.Equal("productpage", clientSpan.Attributes["istio.canonical_service"]);
        Assert.Equal("reviews", serverSpan.Attributes["istio.canonical_service"]);
        Assert.Equal("v2", serverSpan.Attributes["istio.canonical_revision"]);
        Assert.Equal("sidecar~127.0.0.1~productpage-v1-0.default~default.svc.cluster.local", clientSpan.Attributes["node_id"]);
        Assert.Equal(TelemetryMesh.OutboundCluster, clientSpan.Attributes["upstream_cluster"]);
        Assert.Equal(TelemetryMesh.InboundCluster, serverSpan.Attributes["upstream_cluster"]);
        Assert.Null(clientSpan.ParentSpanId); // a new trace starts at the first proxy
        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", requestId);
    }

    [Fact]
    public async Task B3MultiHeaders_In_TraceparentAndB3Out()
    {
        await using var mesh = await TelemetryMesh.StartAsync(sampling: 0);
        using var client = mesh.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/b3");
        request.Headers.Add("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7");
        request.Headers.Add("x-b3-spanid", "e457b5a2e4d86bd1");
        request.Headers.Add("x-b3-sampled", "1");

        using var response = await client.SendAsync(request);
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());
        var spans = await mesh.Receiver.WaitForAsync(s => s.Count >= 2);

        var server = spans.Single(s => s.Kind == ReceivedSpan.Server);
        Assert.Equal($"00-80f198ee56343ba864fe8b2a57d3eff7-{server.SpanId}-01", echo.Headers["traceparent"]);
        Assert.Equal("80f198ee56343ba864fe8b2a57d3eff7", echo.Headers["x-b3-traceid"]);
        Assert.Equal("1", echo.Headers["x-b3-sampled"]);
        Assert.Equal("e457b5a2e4d86bd1", spans.Single(s => s.Kind == ReceivedSpan.Client).ParentSpanId);
    }

    [Fact]
    public async Task B3SingleHeader_64BitTraceId_KeptInB3AndPaddedInTraceparent()
    {
        await using var mesh = await TelemetryMesh.StartAsync(sampling: 100);
        using var client = mesh.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/b3single");
        request.Headers.Add("b3", "a3ce929d0e0e4736-00f067aa0ba902b7-1");

        using var response = await client.SendAsync(request);
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());

        Assert.StartsWith("00-0000000000000000a3ce929d0e0e4736-", echo.Headers["traceparent"], StringComparison.Ordinal);
        Assert.StartsWith("a3ce929d0e0e4736-", echo.Headers["b3"], StringComparison.Ordinal);
        Assert.EndsWith("-1-" + echo.Headers["x-b3-parentspanid"], echo.Headers["b3"], StringComparison.Ordinal);
        Assert.Equal("a3ce929d0e0e4736", echo.Headers["x-b3-traceid"]);
    }

    [Fact]
    public async Task NoIncomingContext_RequestIdCreated_UnsampledContextStillPropagated()
    {
        await using var mesh = await TelemetryMesh.StartAsync(sampling: 0);
        using var client = mesh.Client();

        using var response = await client.GetAsync("/plain");
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());
        await Task.Delay(2500); // two export intervals: nothing may arrive

        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-00$", echo.Headers["traceparent"]);
        Assert.Equal("0", echo.Headers["x-b3-sampled"]);
        Assert.True(Guid.TryParse(echo.Headers["x-request-id"], out _));
        Assert.Empty(mesh.Receiver.Spans);
    }

    [Fact]
    public async Task IncomingRequestId_KeptUnchanged()
    {
        await using var mesh = await TelemetryMesh.StartAsync(sampling: 0);
        using var client = mesh.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/rid");
        request.Headers.Add("x-request-id", "my-request-1");

        using var response = await client.SendAsync(request);
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal("my-request-1", echo.Headers["x-request-id"]);
    }

    [Fact]
    public async Task ServerError_SpanStatusErrorWithFlags()
    {
        await using var mesh = await TelemetryMesh.StartAsync(sampling: 100);
        await mesh.Backend.DisposeAsync(); // the app is gone: the server-side proxy answers 503 UF
        using var client = mesh.Client();

        using var response = await client.GetAsync("/down");
        var spans = await mesh.Receiver.WaitForAsync(s => s.Count >= 2);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var server = spans.Single(s => s.Kind == ReceivedSpan.Server);
        Assert.Equal(2, server.StatusCode);
        Assert.Equal("true", server.Attributes["error"]);
        Assert.Contains("UF", server.Attributes["response_flags"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task CollectorDown_RequestsUnaffectedAndFailuresCounted()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions
        {
            Mode = CaptureMode.Explicit,
            TraceSampling = 100,
            TraceCollector = "http://127.0.0.1:9/v1/traces", // discard port: nothing listens
        });
        proxy.Apply([XdsConfig.HttpListener(80, "80")], [XdsConfig.CatchAll("80", "web")], [XdsConfig.StaticCluster("web", [backend.Port])]);

        for (var i = 0; i < 5; i++)
        {
            using var response = await proxy.SendAsync("web", "/");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var samples = await PrometheusScrape.WaitForAsync(proxy.Host.StatsPort, s => s.Named("skein_proxy_spans_failed_total").Total() == 5);
        Assert.Equal(0, samples.Named("skein_proxy_spans_exported_total").Total());
    }

    [Theory]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true)]
    [InlineData("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra", true)]
    [InlineData("00-00000000000000000000000000000000-00f067aa0ba902b7-01", false)] // all-zero trace id
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false)] // all-zero parent
    [InlineData("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false)] // forbidden version
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", false)] // version 00 has no extra fields
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false)]
    public void ParseTraceparent_ValidAndMalformed_AsTheSpecSays(string value, bool valid)
    {
        Assert.Equal(valid, TraceHeaders.TryParseTraceparent(value, out var ctx));
        if (valid)
        {
            Assert.Equal(0x00f067aa0ba902b7UL, ctx.ParentSpanId);
        }
    }

    [Theory]
    [InlineData("0", false)]
    [InlineData("d", true)]
    [InlineData("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90", true)]
    [InlineData("e457b5a2e4d86bd1-e457b5a2e4d86bd1-0", false)]
    public void ParseB3Single_SamplingState(string value, bool sampled)
    {
        Assert.True(TraceHeaders.TryParseB3Single(value, out var ctx));
        Assert.Equal(sampled, ctx.Sampled);
    }
}
