using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Skein.Proxy.Tests.Grpc;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests;

/// <summary>Each protocol the proxy carries, end to end over real sockets: client → proxy → Kestrel backend.</summary>
public sealed class ProtocolTests
{
    private const string Cluster = "outbound|9080||backend";

    [Fact]
    public async Task Http1_GetThroughListener_ReturnsBackendResponse()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var proxy = await StartAsync(backend.Port, http2: false);

        using var response = await proxy.SendAsync("backend:9080", "/hello?x=1");
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("v1", echo.Name);
        Assert.Equal("/hello?x=1", echo.Path);
        Assert.Equal("backend:9080", echo.Host);
        Assert.Equal("HTTP/1.1", echo.Protocol);
        Assert.True(response.Headers.Contains("x-envoy-upstream-service-time"));
    }

    [Fact]
    public async Task Http1_AbsoluteFormThroughHttpProxy_RoutesByRequestTarget()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var proxy = await StartAsync(backend.Port, http2: false);
        using var client = new HttpClient(new SocketsHttpHandler { Proxy = new WebProxy($"http://127.0.0.1:{proxy.OutboundPort}"), UseProxy = true });

        var echo = EchoReply.Parse(await client.GetStringAsync("http://backend:9080/via-proxy"));

        Assert.Equal("v1", echo.Name);
        Assert.Equal("/via-proxy", echo.Path);
    }

    [Fact]
    public async Task H2c_PriorKnowledge_ForwardedOverHttp2ToHttp2Cluster()
    {
        await using var backend = await TestBackend.StartAsync("h2", http2: true);
        await using var proxy = await StartAsync(backend.Port, http2: true);

        using var response = await proxy.SendAsync("backend:9080", "/h2", version: HttpVersion.Version20);
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("HTTP/2", echo.Protocol);
        Assert.Equal("backend:9080", echo.Host);
    }

    [Fact]
    public async Task Http1Downstream_Http2Cluster_UpgradesUpstreamToH2c()
    {
        await using var backend = await TestBackend.StartAsync("h2", http2: true);
        await using var proxy = await StartAsync(backend.Port, http2: true);

        using var response = await proxy.SendAsync("backend:9080", "/mixed");
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpVersion.Version11, response.Version);
        Assert.Equal("HTTP/2", echo.Protocol);
    }

    [Fact]
    public async Task Grpc_Unary_ReturnsMessageAndTrailers()
    {
        await using var backend = await TestBackend.StartAsync("grpc", http2: true);
        await using var proxy = await StartAsync(backend.Port, http2: true);
        using var channel = GrpcChannelFor(proxy);
        var client = new Echo.EchoClient(channel);

        using var call = client.UnaryAsync(new EchoMessage { Text = "hi" });
        var reply = await call.ResponseAsync;

        Assert.Equal("echo:hi", reply.Text);
        Assert.Equal("unary:hi", call.GetTrailers().GetValue("x-echo-trailer"));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Grpc_BidiStreaming_InterleavesMessagesAndEndsWithTrailers()
    {
        await using var backend = await TestBackend.StartAsync("grpc", http2: true);
        await using var proxy = await StartAsync(backend.Port, http2: true);
        using var channel = GrpcChannelFor(proxy);
        var client = new Echo.EchoClient(channel);

        using var call = client.Bidi();
        for (var i = 0; i < 5; i++)
        {
            // One message out, one back, before the next: proves both directions stream (nothing is buffered).
            await call.RequestStream.WriteAsync(new EchoMessage { Text = "m" + i });
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal("echo:m" + i, call.ResponseStream.Current.Text);
        }

        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal("5", call.GetTrailers().GetValue("x-echo-count"));
    }

    [Fact]
    public async Task Grpc_TimeoutHeader_ProxyAnswersDeadlineExceededAtTheDeadline()
    {
        await using var backend = await TestBackend.StartAsync("grpc", http2: true);
        await using var proxy = await StartAsync(backend.Port, http2: true);

        // A raw gRPC request (the client does not enforce the deadline itself): the proxy must.
        using var client = proxy.Client(version: HttpVersion.Version20);
        var request = new HttpRequestMessage(HttpMethod.Post, "/skein.test.Echo/Unary")
        {
            Content = new ByteArrayContent(GrpcFrame(new EchoMessage { Text = "slow", DelayMs = 5000 })),
        };
        request.Headers.Host = "backend:9080";
        request.Headers.TryAddWithoutValidation("te", "trailers");
        request.Headers.TryAddWithoutValidation("grpc-timeout", "300m");
        request.Content.Headers.TryAddWithoutValidation("content-type", "application/grpc");
        var started = System.Diagnostics.Stopwatch.StartNew();

        using var response = await client.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();

        Assert.Equal("4", Header(response, "grpc-status")); // DEADLINE_EXCEEDED
        Assert.InRange(started.ElapsedMilliseconds, 250, 3000);
        var entry = await proxy.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/skein.test.Echo/Unary");
        Assert.Equal("UT", entry.GetProperty("response_flags").GetString());
    }

    [Fact]
    public async Task WebSocket_UpgradeThroughProxy_EchoesFrames()
    {
        await using var backend = await TestBackend.StartAsync("ws");
        await using var proxy = await StartAsync(backend.Port, http2: false);
        using var ws = new ClientWebSocket();
        ws.Options.SetRequestHeader("Host", "backend:9080");

        await ws.ConnectAsync(new Uri($"ws://127.0.0.1:{proxy.OutboundPort}/ws"), CancellationToken.None);
        var buffer = new byte[64];
        foreach (var text in new[] { "one", "two" })
        {
            await ws.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);
            var r = await ws.ReceiveAsync(buffer, CancellationToken.None);
            Assert.Equal(text, Encoding.UTF8.GetString(buffer, 0, r.Count));
        }

        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        Assert.Equal(WebSocketState.Closed, ws.State);
    }

    [Fact]
    public async Task WebSocket_UpgradeNotConfigured_Returns403()
    {
        await using var backend = await TestBackend.StartAsync("ws");
        await using var proxy = await TestProxy.StartExplicitAsync();
        proxy.Apply(
            [XdsConfig.HttpListener(9080, "9080", upgrades: "[]")],
            [XdsConfig.CatchAll("9080", Cluster)],
            [XdsConfig.StaticCluster(Cluster, [backend.Port])]);
        using var ws = new ClientWebSocket();
        ws.Options.SetRequestHeader("Host", "backend:9080");
        ws.Options.CollectHttpResponseDetails = true;

        await Assert.ThrowsAsync<WebSocketException>(() => ws.ConnectAsync(new Uri($"ws://127.0.0.1:{proxy.OutboundPort}/ws"), CancellationToken.None));

        Assert.Equal(HttpStatusCode.Forbidden, ws.HttpStatusCode);
    }

    [Fact]
    public async Task OpaqueTcp_ClientFirstBytes_EchoedBothWaysWithHalfClose()
    {
        await using var echo = new TcpEchoServer();
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, AppPort = echo.Port });

        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, proxy.InboundPort);
        await socket.SendAsync("\x01\x02binary not http"u8.ToArray());
        socket.Shutdown(SocketShutdown.Send); // half-close: the echo must still come back

        var received = await ReadToEndAsync(socket);

        Assert.Equal("\x01\x02binary not http", Encoding.ASCII.GetString(received));
    }

    [Fact]
    public async Task OpaqueTcp_ServerFirstProtocol_GreetingArrivesAfterDetectionTimeout()
    {
        await using var echo = new TcpEchoServer(greeting: "220 smtp ready\r\n");
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions
        {
            Mode = CaptureMode.Explicit,
            AppPort = echo.Port,
            DetectionTimeout = TimeSpan.FromMilliseconds(100),
        });

        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, proxy.InboundPort);
        var buffer = new byte[64];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token); // the client says nothing first

        Assert.Equal("220 smtp ready\r\n", Encoding.ASCII.GetString(buffer, 0, n));
    }

    [Fact]
    public async Task OpaqueTcp_TcpProxyFilterChain_RelaysToClusterEndpoint()
    {
        await using var echo = new TcpEchoServer();
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, AppPort = 7777 });
        proxy.Apply(
            [XdsConfig.TcpListener(7777, "inbound|7777||", name: "virtualInbound")],
            clusters: [XdsConfig.StaticCluster("inbound|7777||", [echo.Port])]);

        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, proxy.InboundPort);
        await socket.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray()); // HTTP bytes, but the chain is TCP
        socket.Shutdown(SocketShutdown.Send);

        Assert.Equal("GET / HTTP/1.1\r\nHost: x\r\n\r\n", Encoding.ASCII.GetString(await ReadToEndAsync(socket)));
    }

    [Fact]
    public async Task OpaquePort_HttpBytes_RelayedRawWithoutDetection()
    {
        await using var echo = new TcpEchoServer();
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions
        {
            Mode = CaptureMode.Explicit,
            AppPort = echo.Port,
            OpaquePorts = new HashSet<int> { echo.Port },
        });

        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, proxy.InboundPort);
        await socket.SendAsync("GET /not-parsed HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        socket.Shutdown(SocketShutdown.Send);

        Assert.Equal("GET /not-parsed HTTP/1.1\r\nHost: x\r\n\r\n", Encoding.ASCII.GetString(await ReadToEndAsync(socket)));
    }

    [Fact]
    public async Task OpaqueTcp_UpstreamRefusesConnection_DownstreamClosed()
    {
        int closedPort;
        using (var l = new TcpListener(IPAddress.Loopback, 0))
        {
            l.Start();
            closedPort = ((IPEndPoint)l.LocalEndpoint).Port;
        }

        await using var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, AppPort = closedPort });
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, proxy.InboundPort);
        await socket.SendAsync("\x00binary"u8.ToArray());

        Assert.Empty(await ReadToEndAsync(socket)); // closed by the proxy, no bytes
    }

    internal static async Task<TestProxy> StartAsync(int backendPort, bool http2)
    {
        var proxy = await TestProxy.StartExplicitAsync();
        proxy.Apply(
            [XdsConfig.HttpListener(9080, "9080")],
            [XdsConfig.Routes("9080", """[{"name": "backend", "domains": ["backend", "backend:9080"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "outbound|9080||backend", "timeout": "0s"}}]}]""")],
            [XdsConfig.StaticCluster(Cluster, [backendPort], http2)]);
        return proxy;
    }

    private static GrpcChannel GrpcChannelFor(TestProxy proxy) =>
        GrpcChannel.ForAddress($"http://127.0.0.1:{proxy.OutboundPort}", new GrpcChannelOptions
        {
            HttpHandler = new AuthorityHandler("backend:9080") { InnerHandler = new SocketsHttpHandler { UseProxy = false } },
        });

    private static byte[] GrpcFrame(EchoMessage message)
    {
        var payload = Google.Protobuf.MessageExtensions.ToByteArray(message);
        var frame = new byte[5 + payload.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        return frame;
    }

    private static string? Header(HttpResponseMessage r, string name) =>
        r.Headers.TryGetValues(name, out var v) ? v.First() : r.TrailingHeaders.TryGetValues(name, out var t) ? t.First() : null;

    internal static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        using var ms = new MemoryStream();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
        {
            ms.Write(buffer, 0, n);
        }

        return ms.ToArray();
    }

    /// <summary>Sets the :authority the proxy routes by (explicit mode routes on Host).</summary>
    private sealed class AuthorityHandler(string authority) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.Host = authority;
            return base.SendAsync(request, cancellationToken);
        }
    }
}
