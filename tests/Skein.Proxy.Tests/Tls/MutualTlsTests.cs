using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Skein.Identity;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests.Tls;

/// <summary>
/// Sidecar to sidecar mTLS as skein-control configures it: the client proxy originates TLS 1.3 with its SVID and
/// checks the server's SPIFFE id; the server proxy terminates it, requires a client certificate that chains to the
/// trust bundle, and serves the plaintext as HTTP or TCP.
/// </summary>
public sealed class MutualTlsTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task ProxyToProxy_IstioMutual_Tls13OnTheWireNoPlaintext()
    {
        await using var backend = await TestBackend.StartAsync("reviews");
        await using var server = await StartServerAsync(backend.Port, "STRICT");
        await using var tap = new WireTap(server.InboundPort);
        await using var client = await StartClientAsync(tap.Port, [TestPki.Server.ToString()]);

        for (var i = 0; i < 3; i++)
        {
            using var response = await client.SendAsync("reviews", "/reviews/" + i);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("reviews", response.Headers.GetValues("x-backend").Single());
        }

        await client.DisposeAsync(); // closes the pooled upstream connection so the tap has it all
        await WaitUntilAsync(() => tap.Connections.Count > 0);
        foreach (var (fromClient, fromServer) in tap.Connections)
        {
            Assert.Equal(0x16, fromClient[0]); // a TLS handshake record: the ClientHello
            Assert.Equal(0x0304, WireTap.ServerHelloVersion(fromServer)); // TLS 1.3
            Assert.False(WireTap.ContainsPlaintextHttp(fromClient), "plaintext HTTP from the client sidecar");
            Assert.False(WireTap.ContainsPlaintextHttp(fromServer), "plaintext HTTP from the server sidecar");
        }
    }

    [Fact]
    public async Task ProxyToProxy_Http2Cluster_NegotiatesH2AndReachesH2Backend()
    {
        await using var backend = await TestBackend.StartAsync("reviews", http2: true);
        await using var server = await StartServerAsync(backend.Port, "STRICT", http2Backend: true);
        await using var client = await StartClientAsync(server.InboundPort, [TestPki.Server.ToString()], http2: true);

        using var response = await client.SendAsync("reviews", "/h2");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("HTTP/2", EchoReply.Parse(await response.Content.ReadAsStringAsync()).Protocol);
    }

    [Fact]
    public async Task Inbound_ClientWithSvid_Tls13AndHttpServed()
    {
        await using var backend = await TestBackend.StartAsync("reviews");
        await using var server = await StartServerAsync(backend.Port, "STRICT");

        var (protocol, alpn, response) = await TlsGetAsync(server.InboundPort, _pki.Identity(TestPki.Client));

        Assert.Equal(SslProtocols.Tls13, protocol);
        Assert.Equal("http/1.1", alpn);
        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.Contains("x-backend: reviews", response, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Inbound_Http2WithHttpsScheme_Served()
    {
        // What an Envoy sidecar or any TLS client sends over h2: :scheme https, on a connection whose TLS the
        // proxy terminated before its HTTP/2 stack saw it.
        await using var backend = await TestBackend.StartAsync("reviews");
        await using var server = await StartServerAsync(backend.Port, "STRICT");
        var identity = _pki.Identity(TestPki.Client);
        using var client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            SslOptions = new SslClientAuthenticationOptions
            {
                TargetHost = "outbound_.9080_._.reviews.default.svc.cluster.local",
                ClientCertificateContext = identity.Context,
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                    cert is System.Security.Cryptography.X509Certificates.X509Certificate2 c && new TrustBundle(_pki.Ca.Roots).Verify(c, null, out _) == TestPki.Server,
            },
        });

        using var request = new HttpRequestMessage(HttpMethod.Get, $"https://127.0.0.1:{server.InboundPort}/reviews/1")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("reviews", response.Headers.GetValues("x-backend").Single());
    }

    [Theory]
    [InlineData("other-ca")]
    [InlineData("expired")]
    [InlineData("none")]
    [InlineData("not-spiffe-domain")]
    public async Task Inbound_UntrustedClientCertificate_HandshakeRefused(string kind)
    {
        await using var backend = await TestBackend.StartAsync("reviews");
        await using var server = await StartServerAsync(backend.Port, "STRICT");
        using var otherPki = new TestPki();
        var identity = kind switch
        {
            "other-ca" => otherPki.Identity(TestPki.Client),
            "expired" => _pki.Expired(TestPki.Client),
            "not-spiffe-domain" => _pki.Identity(SpiffeId.Parse("spiffe://evil.example/ns/default/sa/client")),
            _ => null,
        };

        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            var (_, _, response) = await TlsGetAsync(server.InboundPort, identity);
            Assert.Fail("served: " + response); // TLS 1.3 reports a refused client certificate on the first read
        });
        Assert.Equal(0, backend.Requests);
    }

    [Fact]
    public async Task Inbound_Strict_PlaintextRefused()
    {
        await using var backend = await TestBackend.StartAsync("reviews");
        await using var server = await StartServerAsync(backend.Port, "STRICT");

        Assert.Null(await PlainGetAsync(server.InboundPort));
        Assert.Equal(0, backend.Requests);
    }

    [Fact]
    public async Task Inbound_Permissive_AcceptsPlaintextAndMutualTls()
    {
        await using var backend = await TestBackend.StartAsync("reviews");
        await using var server = await StartServerAsync(backend.Port, "PERMISSIVE");

        Assert.StartsWith("HTTP/1.1 200", await PlainGetAsync(server.InboundPort), StringComparison.Ordinal);
        var (protocol, _, response) = await TlsGetAsync(server.InboundPort, _pki.Identity(TestPki.Client));
        Assert.Equal(SslProtocols.Tls13, protocol);
        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.Equal(2, backend.Requests);
    }

    [Fact]
    public async Task Inbound_Disable_PlaintextOnly()
    {
        await using var backend = await TestBackend.StartAsync("reviews");
        await using var server = await StartServerAsync(backend.Port, "DISABLE");

        Assert.StartsWith("HTTP/1.1 200", await PlainGetAsync(server.InboundPort), StringComparison.Ordinal);
        await Assert.ThrowsAnyAsync<Exception>(() => TlsGetAsync(server.InboundPort, _pki.Identity(TestPki.Client)));
        Assert.Equal(1, backend.Requests);
    }

    [Fact]
    public async Task Outbound_ServerSanMismatch_FailsClosedWith503UF()
    {
        await using var backend = await TestBackend.StartAsync("reviews");
        await using var server = await StartServerAsync(backend.Port, "STRICT");
        await using var client = await StartClientAsync(server.InboundPort, [TestPki.Other.ToString()]);

        using var response = await client.SendAsync("reviews", "/reviews/1");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var entry = await client.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/reviews/1");
        Assert.Equal("UF", entry.GetProperty("response_flags").GetString());
        Assert.Contains("SAN mismatch", entry.GetProperty("upstream_transport_failure_reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, backend.Requests);
    }

    [Fact]
    public async Task Outbound_ServerFromAnotherCa_FailsClosedWith503UF()
    {
        await using var backend = await TestBackend.StartAsync("reviews");
        using var otherPki = new TestPki();
        await using var server = await StartServerAsync(backend.Port, "STRICT", identity: otherPki.Identity(TestPki.Server));
        await using var client = await StartClientAsync(server.InboundPort, [TestPki.Server.ToString()]);

        using var response = await client.SendAsync("reviews", "/reviews/1");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var entry = await client.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/reviews/1");
        Assert.Equal("UF", entry.GetProperty("response_flags").GetString());
        Assert.Equal(0, backend.Requests);
    }

    [Fact]
    public async Task Inbound_RbacOnPrincipal_SeesTheVerifiedClientIdentity()
    {
        await using var backend = await TestBackend.StartAsync("reviews");
        await using var server = await StartServerAsync(backend.Port, "STRICT", allowPrincipal: TestPki.Client.ToString());
        await using var allowed = await StartClientAsync(server.InboundPort, [TestPki.Server.ToString()], identity: TestPki.Client);
        await using var denied = await StartClientAsync(server.InboundPort, [TestPki.Server.ToString()], identity: TestPki.Other);

        using var ok = await allowed.SendAsync("reviews", "/reviews/1");
        using var forbidden = await denied.SendAsync("reviews", "/reviews/1");

        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        Assert.Equal("RBAC: access denied", await forbidden.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Tcp_MutualTlsBothHops_RelaysBytesAndHalfClose()
    {
        await using var echo = await TcpEcho.StartAsync();
        await using var server = await StartServerAsync(echo.Port, "STRICT", http: false);
        // The client sidecar's TCP entry: its inbound port (explicit mode), a tcp_proxy to the mTLS cluster.
        await using var client = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, AppPort = 7000, DetectionTimeout = TimeSpan.FromSeconds(2) });
        client.Host.Secrets.Publish(_pki.Identity(TestPki.Client));
        client.Apply(
            [XdsConfig.TcpListener(7000, "outbound|7000||echo", "virtualInbound")],
            clusters: [MtlsXds.MutualCluster("outbound|7000||echo", server.InboundPort, [TestPki.Server.ToString()])]);

        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, client.InboundPort);
        await socket.SendAsync("hello over mtls"u8.ToArray());
        socket.Shutdown(SocketShutdown.Send); // half-close: the echo server answers, then closes
        var received = new MemoryStream();
        var buffer = new byte[1024];
        int n;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
        {
            received.Write(buffer, 0, n);
        }

        Assert.Equal("hello over mtls", Encoding.ASCII.GetString(received.ToArray()));
    }

    /// <summary>The server sidecar: inbound (explicit mode, app port = backend) with the given mTLS mode.</summary>
    private async Task<TestProxy> StartServerAsync(int appPort, string mode, bool http = true, bool http2Backend = false, string? allowPrincipal = null, Certificates.WorkloadIdentity? identity = null)
    {
        var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, AppPort = appPort, DetectionTimeout = TimeSpan.FromSeconds(2) });
        proxy.Host.Secrets.Publish(identity ?? _pki.Identity(TestPki.Server));
        proxy.Apply(
            [MtlsXds.Inbound(appPort, mode, http, allowPrincipal)],
            clusters: [XdsConfig.StaticCluster($"inbound|{appPort}||", [appPort], http2Backend)]);
        return proxy;
    }

    /// <summary>The client sidecar: outbound HTTP on port 80 to the mTLS cluster at <paramref name="serverPort"/>.</summary>
    private async Task<TestProxy> StartClientAsync(int serverPort, string[] expectedSans, bool http2 = false, SpiffeId? identity = null)
    {
        var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit });
        proxy.Host.Secrets.Publish(_pki.Identity(identity ?? TestPki.Client));
        proxy.Apply(
            [XdsConfig.HttpListener(80, "80")],
            [XdsConfig.CatchAll("80", "outbound|9080||reviews")],
            [MtlsXds.MutualCluster("outbound|9080||reviews", serverPort, expectedSans, http2)]);
        return proxy;
    }

    /// <summary>GET / over TLS with <paramref name="identity"/>'s certificate (none when null), trusting the test CA.</summary>
    private async Task<(SslProtocols Protocol, string Alpn, string Response)> TlsGetAsync(int port, Certificates.WorkloadIdentity? identity)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: false));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "outbound_.9080_._.reviews.default.svc.cluster.local",
            ClientCertificateContext = identity?.Context,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            RemoteCertificateValidationCallback = (_, cert, _, _) =>
                cert is System.Security.Cryptography.X509Certificates.X509Certificate2 c && new TrustBundle(_pki.Ca.Roots).Verify(c, null, out _) == TestPki.Server,
        }, timeout.Token);
        await tls.WriteAsync("GET /tls HTTP/1.1\r\nHost: reviews\r\nConnection: close\r\n\r\n"u8.ToArray(), timeout.Token);
        using var reader = new StreamReader(tls);
        var response = await reader.ReadToEndAsync(timeout.Token);
        if (response.Length == 0)
        {
            throw new IOException("connection closed without an answer");
        }

        return (tls.SslProtocol, tls.NegotiatedApplicationProtocol.ToString(), response);
    }

    /// <summary>GET / in plaintext; null when the connection is closed without an answer.</summary>
    private static async Task<string?> PlainGetAsync(int port)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        await socket.SendAsync("GET /plain HTTP/1.1\r\nHost: reviews\r\nConnection: close\r\n\r\n"u8.ToArray());
        var received = new MemoryStream();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            int n;
            while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, n);
            }
        }
        catch (SocketException)
        {
        }

        return received.Length == 0 ? null : Encoding.ASCII.GetString(received.ToArray());
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 100 && !condition(); i++)
        {
            await Task.Delay(50);
        }
    }

    /// <summary>A TCP server that echoes what it gets and closes after the client's FIN.</summary>
    private sealed class TcpEcho : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly Task _accept;

        private TcpEcho()
        {
            _listener.Start();
            _accept = Task.Run(async () =>
            {
                try
                {
                    while (true)
                    {
                        var c = await _listener.AcceptTcpClientAsync();
                        _ = Task.Run(async () =>
                        {
                            using (c)
                            {
                                var all = new MemoryStream();
                                await c.GetStream().CopyToAsync(all);
                                await c.GetStream().WriteAsync(all.ToArray());
                            }
                        });
                    }
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                }
            });
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public static Task<TcpEcho> StartAsync() => Task.FromResult(new TcpEcho());

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            await _accept;
        }
    }
}
