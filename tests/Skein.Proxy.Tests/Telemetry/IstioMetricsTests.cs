using System.Net;
using System.Net.Sockets;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Skein.Proxy.Tests.Grpc;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests.Telemetry;

/// <summary>Istio's standard metrics as a scraper sees them on each sidecar's 15090, through two real proxies.</summary>
public sealed class IstioMetricsTests
{
    private const int Calls = 7;

    [Fact]
    public async Task TwoProxies_HttpCalls_SourceAndDestinationReportWorkloadLabelsAndExactCounts()
    {
        await using var mesh = await TelemetryMesh.StartAsync();
        using var client = mesh.Client();
        for (var i = 0; i < Calls; i++)
        {
            using var response = await client.GetAsync($"/reviews/{i}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var source = await PrometheusScrape.WaitForAsync(mesh.Source.Host.StatsPort, s => s.Named("istio_requests_total").Total() >= Calls);
        var destination = await PrometheusScrape.WaitForAsync(mesh.Destination.Host.StatsPort, s => s.Named("istio_requests_total").Total() >= Calls);

        var sent = Assert.Single(source.Named("istio_requests_total"));
        Assert.Equal(Calls, sent.Value);
        Assert.Equal("source", sent["reporter"]);
        Assert.Equal("productpage-v1", sent["source_workload"]);
        Assert.Equal("default", sent["source_workload_namespace"]);
        Assert.Equal("productpage", sent["source_app"]);
        Assert.Equal("v1", sent["source_version"]);
        Assert.Equal("reviews-v2", sent["destination_workload"]);
        Assert.Equal("default", sent["destination_workload_namespace"]);
        Assert.Equal("reviews", sent["destination_app"]);
        Assert.Equal("v2", sent["destination_version"]);
        Assert.Equal(TelemetryMesh.ServiceHost, sent["destination_service"]);
        Assert.Equal("reviews", sent["destination_service_name"]);
        Assert.Equal("default", sent["destination_service_namespace"]);
        Assert.Equal("http", sent["request_protocol"]);
        Assert.Equal("200", sent["response_code"]);
        Assert.Equal("-", sent["response_flags"]);
        Assert.Equal(string.Empty, sent["grpc_response_status"]);
        Assert.Equal("unknown", sent["connection_security_policy"]); // Istio's client side says unknown

        var received = Assert.Single(destination.Named("istio_requests_total"));
        Assert.Equal(Calls, received.Value);
        Assert.Equal("destination", received["reporter"]);
        Assert.Equal("productpage-v1", received["source_workload"]); // learnt by metadata exchange
        Assert.Equal("productpage", received["source_app"]);
        Assert.Equal("v1", received["source_version"]);
        Assert.Equal("Kubernetes", received["source_cluster"]);
        Assert.Equal("reviews-v2", received["destination_workload"]);
        Assert.Equal(TelemetryMesh.ServiceHost, received["destination_service"]); // reviews:9080 completed as Kubernetes DNS does
        Assert.Equal("reviews", received["destination_service_name"]);
        Assert.Equal("none", received["connection_security_policy"]); // plaintext
        Assert.Equal(Calls, destination.Named("istio_request_duration_milliseconds_count").Total());
        Assert.Equal(Calls, source.Named("istio_request_bytes_count").Total());
        Assert.True(destination.Named("istio_response_bytes_sum").Total() > 0);
    }

    [Fact]
    public async Task MetadataExchange_HeadersNeverReachAppOrClient()
    {
        await using var mesh = await TelemetryMesh.StartAsync();
        using var client = mesh.Client();

        using var response = await client.GetAsync("/echo");
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());

        Assert.DoesNotContain("x-envoy-peer-metadata", echo.Headers.Keys);
        Assert.DoesNotContain("x-envoy-peer-metadata-id", echo.Headers.Keys);
        Assert.False(response.Headers.Contains("x-envoy-peer-metadata"));
        Assert.False(response.Headers.Contains("x-envoy-peer-metadata-id"));
    }

    [Fact]
    public async Task FaultAbort_LocalReplyBeforeTheRouter_LabelledWithTheRoutesService()
    {
        await using var mesh = await TelemetryMesh.StartAsync();
        using var client = mesh.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/reviews/1") { Headers = { { "x-envoy-fault-abort-request", "503" } } };

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var samples = await PrometheusScrape.WaitForAsync(mesh.Source.Host.StatsPort, s => s.Named("istio_requests_total").Total() >= 1);
        var aborted = Assert.Single(samples.Named("istio_requests_total"));
        Assert.Equal("FI", aborted["response_flags"]);
        Assert.Equal("503", aborted["response_code"]);
        // Istio takes the service from the routed cluster even when no upstream was contacted: the edge in the graph.
        Assert.Equal(TelemetryMesh.ServiceHost, aborted["destination_service"]);
        Assert.Equal("reviews", aborted["destination_service_name"]);
        Assert.Equal("default", aborted["destination_service_namespace"]);
    }

    [Fact]
    public async Task Histogram_DurationBuckets_IstioDefaultBoundsCumulative()
    {
        await using var mesh = await TelemetryMesh.StartAsync();
        using var client = mesh.Client();
        for (var i = 0; i < 3; i++)
        {
            (await client.GetAsync("/slow?ms=30")).Dispose();
        }

        var samples = await PrometheusScrape.WaitForAsync(mesh.Destination.Host.StatsPort, s => s.Named("istio_request_duration_milliseconds_count").Total() >= 3);
        var buckets = samples.Named("istio_request_duration_milliseconds_bucket").ToList();

        string[] expected = ["0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "30000", "60000", "300000", "600000", "1800000", "3600000", "+Inf"];
        Assert.Equal(expected, buckets.Select(b => b["le"]));
        Assert.Equal(0, buckets.Single(b => b["le"] == "25").Value); // every call took at least 30 ms
        Assert.Equal(3, buckets.Single(b => b["le"] == "+Inf").Value);
        Assert.True(buckets.Zip(buckets.Skip(1)).All(p => p.First.Value <= p.Second.Value), "buckets are cumulative");
        Assert.True(samples.Named("istio_request_duration_milliseconds_sum").Single().Value >= 90);
    }

    [Fact]
    public async Task Grpc_StatusFromTrailersAndTrailersOnly_GrpcResponseStatusLabel()
    {
        await using var mesh = await TelemetryMesh.StartAsync(http2: true);
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{mesh.Source.OutboundPort}", new GrpcChannelOptions
        {
            HttpHandler = new AuthorityHandler("reviews:9080") { InnerHandler = new SocketsHttpHandler { UseProxy = false } },
        });
        var client = new Echo.EchoClient(channel);

        var ok = await client.UnaryAsync(new EchoMessage { Text = "hi" });
        var missing = await Assert.ThrowsAsync<RpcException>(async () =>
            await channel.CreateCallInvoker().AsyncUnaryCall(Unimplemented, null, default, new EchoMessage { Text = "x" }));

        Assert.Equal("echo:hi", ok.Text);
        Assert.Equal(StatusCode.Unimplemented, missing.StatusCode);
        foreach (var port in new[] { mesh.Source.Host.StatsPort, mesh.Destination.Host.StatsPort })
        {
            var samples = await PrometheusScrape.WaitForAsync(port, s => s.Named("istio_requests_total").Total() >= 2);
            var grpc = samples.Named("istio_requests_total").With("request_protocol", "grpc").ToList();
            Assert.Equal(1, grpc.With("grpc_response_status", "0").Total()); // from the trailers
            Assert.Equal(1, grpc.With("grpc_response_status", "12").Total()); // trailers-only response headers
            Assert.All(grpc, s => Assert.Equal("200", s["response_code"]));
        }
    }

    [Fact]
    public async Task Tcp_InboundConnection_BytesOpenedClosedCounted_AlsoWhileOpen()
    {
        await using var echo = new TcpEchoServer();
        await using var proxy = await TestProxy.StartAsync(
            new ProxyOptions { Mode = CaptureMode.Explicit, AppPort = echo.Port },
            bootstrap: TelemetryMesh.Bootstrap("sidecar~127.0.0.1~db-0.default~default.svc.cluster.local", "db-v1", "db", "v1", "db"));
        proxy.Apply([XdsConfig.TcpListener(echo.Port, "inbound|5432||", name: "virtualInbound")], clusters: [XdsConfig.StaticCluster("inbound|5432||", [echo.Port])]);

        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, proxy.InboundPort);
        var payload = Encoding.ASCII.GetBytes(new string('x', 3000));
        await socket.SendAsync(payload);
        await ReadExactlyAsync(socket, payload.Length);

        // Still open: the bytes so far are reported on each scrape, as Istio's periodic TCP reporting does.
        var open = await PrometheusScrape.WaitForAsync(proxy.Host.StatsPort, s => s.Named("istio_tcp_received_bytes_total").Total() == 3000);
        Assert.Equal(1, open.Named("istio_tcp_connections_opened_total").Total());
        Assert.Equal(0, open.Named("istio_tcp_connections_closed_total").Total());

        await socket.SendAsync("bye"u8.ToArray());
        socket.Shutdown(SocketShutdown.Send);
        await ReadExactlyAsync(socket, 3);
        socket.Close();

        var closed = await PrometheusScrape.WaitForAsync(proxy.Host.StatsPort, s => s.Named("istio_tcp_connections_closed_total").Total() == 1);
        var received = Assert.Single(closed.Named("istio_tcp_received_bytes_total"));
        Assert.Equal(3003, received.Value);
        Assert.Equal(3003, closed.Named("istio_tcp_sent_bytes_total").Total());
        Assert.Equal("destination", received["reporter"]);
        Assert.Equal("tcp", received["request_protocol"]);
        Assert.Equal("db-v1", received["destination_workload"]);
        Assert.Equal("-", received["response_flags"]);
    }

    [Fact]
    public async Task Tcp_UpstreamRefused_OpenedAndClosedWithUF()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var closedPort = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, AppPort = closedPort, DetectionTimeout = TimeSpan.FromMilliseconds(50) });

        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, proxy.InboundPort);
        await socket.SendAsync("\x01\x02"u8.ToArray());

        var samples = await PrometheusScrape.WaitForAsync(proxy.Host.StatsPort, s => s.Named("istio_tcp_connections_closed_total").Total() == 1);
        Assert.Equal("UF", Assert.Single(samples.Named("istio_tcp_connections_opened_total"))["response_flags"]);
        Assert.Equal("UF", Assert.Single(samples.Named("istio_tcp_connections_closed_total"))["response_flags"]);
    }

    [Fact]
    public async Task NoMetricsOption_NothingRecordedAndNoExchange()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, Metrics = false, Tracing = false });
        proxy.Apply([XdsConfig.HttpListener(80, "80")], [XdsConfig.CatchAll("80", "web")], [XdsConfig.StaticCluster("web", [backend.Port])]);

        using var response = await proxy.SendAsync("web", "/");
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());
        var samples = await PrometheusScrape.ScrapeAsync(proxy.Host.StatsPort);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(samples.Named("istio_requests_total"));
        Assert.Empty(samples.Named("skein_proxy_requests_total"));
        Assert.DoesNotContain("x-envoy-peer-metadata", echo.Headers.Keys);
        Assert.DoesNotContain("traceparent", echo.Headers.Keys);
    }

    private static readonly Method<EchoMessage, EchoMessage> Unimplemented = new(
        MethodType.Unary, "skein.test.Echo", "Missing",
        Marshallers.Create(m => Google.Protobuf.MessageExtensions.ToByteArray(m), EchoMessage.Parser.ParseFrom),
        Marshallers.Create(m => Google.Protobuf.MessageExtensions.ToByteArray(m), EchoMessage.Parser.ParseFrom));

    private static async Task ReadExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        var read = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (read < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, timeout.Token);
            Assert.True(n > 0, "connection closed early");
            read += n;
        }
    }
}
