using System.Net;
using System.Text.Json;
using Skein.Identity;
using Skein.Proxy.Certificates;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests.Tls;

/// <summary>The proxy's own certificate: requested from the CA at start, renewed at half-life, swapped under load.</summary>
[Collection(nameof(CertificateTimingCollection))]
public sealed class CertificateLifecycleTests
{
    [Fact]
    public async Task Rotation_ShortLifetimeUnderSteadyLoad_ZeroFailedCalls()
    {
        // 6 s certificates: each proxy renews about every 3 s, so a 15 s run sees several renewals on both sides.
        await using var ca = await FakeCa.StartAsync(TimeSpan.FromSeconds(6));
        await using var backend = await TestBackend.StartAsync("reviews");
        await using var server = await TestProxy.StartAsync(ca.Configure(
            new ProxyOptions { Mode = CaptureMode.Explicit, AppPort = backend.Port, DetectionTimeout = TimeSpan.FromSeconds(2) }, ca.TokenFile(TestPki.Server)));
        await using var client = await TestProxy.StartAsync(ca.Configure(new ProxyOptions { Mode = CaptureMode.Explicit }, ca.TokenFile(TestPki.Client)));
        await Task.WhenAll(server.Host.Secrets.FirstIssued, client.Host.Secrets.FirstIssued).WaitAsync(TimeSpan.FromSeconds(30));
        server.Apply([MtlsXds.Inbound(backend.Port, "STRICT")], clusters: [XdsConfig.StaticCluster($"inbound|{backend.Port}||", [backend.Port])]);
        // Upstream connections live at most 500 ms, so new handshakes keep happening with whatever certificate is current.
        client.Apply(
            [XdsConfig.HttpListener(80, "80")],
            [XdsConfig.CatchAll("80", "outbound|9080||reviews")],
            [MtlsXds.MutualCluster("outbound|9080||reviews", server.InboundPort, [TestPki.Server.ToString()], extra: """
                , "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "common_http_protocol_options": {"max_connection_duration": "0.5s"},
                    "explicit_http_config": {"http_protocol_options": {}}}}
                """)]);
        var serials = new HashSet<string>();
        var failures = new List<string>();
        var calls = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        using var http = client.Client();

        async Task WorkerAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                lock (serials)
                {
                    serials.Add(client.Host.Secrets.Current!.Serial);
                    serials.Add(server.Host.Secrets.Current!.Serial);
                }

                using var request = new HttpRequestMessage(HttpMethod.Get, "/reviews/1");
                request.Headers.Host = "reviews";
                try
                {
                    using var response = await http.SendAsync(request);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        lock (failures)
                        {
                            failures.Add($"{(int)response.StatusCode} {string.Join(",", response.Headers.Select(h => h.Key))}");
                        }
                    }
                }
                catch (HttpRequestException e)
                {
                    lock (failures)
                    {
                        failures.Add(e.Message);
                    }
                }

                Interlocked.Increment(ref calls);
                await Task.Delay(20);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => WorkerAsync()));

        Assert.Empty(failures);
        Assert.True(calls > 100, $"only {calls} calls");
        Assert.True(client.Host.Certificates!.Renewals >= 4, $"client renewed {client.Host.Certificates.Renewals} times");
        Assert.True(server.Host.Certificates!.Renewals >= 4, $"server renewed {server.Host.Certificates.Renewals} times");
        Assert.True(serials.Count >= 8, $"{serials.Count} distinct certificates seen");
        Assert.Equal(0, client.Host.Certificates.Failures + server.Host.Certificates.Failures);
        Assert.Contains(client.AccessLog.Entries, e => e.GetProperty("path").GetString() == "/reviews/1");
    }

    [Fact]
    public async Task Start_CaUnreachable_NotReadyAndRetriesWithBackoff()
    {
        await using var ca = await FakeCa.StartAsync(TimeSpan.FromHours(1));
        var closed = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        var options = ca.Configure(new ProxyOptions { Mode = CaptureMode.Explicit }, ca.TokenFile(TestPki.Client)) with { CaAddress = $"https://127.0.0.1:{port}" };
        await using var proxy = await TestProxy.StartAsync(options);
        proxy.Apply([XdsConfig.HttpListener(80, "80")], [XdsConfig.CatchAll("80", "nowhere")]);
        using var http = new HttpClient();

        await Task.Delay(TimeSpan.FromSeconds(4));

        using var ready = await http.GetAsync($"http://127.0.0.1:{proxy.Host.HealthPort}/healthz/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode); // config is there, the certificate is not
        Assert.InRange(proxy.Host.Certificates!.Failures, 2, 4); // 1 s, 2 s, ... backoff: not a tight loop
        Assert.Null(proxy.Host.Secrets.Current);
    }

    [Fact]
    public async Task Start_WithCa_ReadyOnlyWithCertificate_CertsEndpointShowsIt()
    {
        await using var ca = await FakeCa.StartAsync(TimeSpan.FromHours(24));
        await using var proxy = await TestProxy.StartAsync(ca.Configure(new ProxyOptions { Mode = CaptureMode.Explicit }, ca.TokenFile(TestPki.Client)));
        proxy.Apply([XdsConfig.HttpListener(80, "80")], [XdsConfig.CatchAll("80", "nowhere")]);
        using var http = new HttpClient();

        HttpStatusCode status = 0;
        for (var i = 0; i < 100 && status != HttpStatusCode.OK; i++)
        {
            using var ready = await http.GetAsync($"http://127.0.0.1:{proxy.Host.HealthPort}/healthz/ready");
            status = ready.StatusCode;
            await Task.Delay(100);
        }

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.NotNull(proxy.Host.Secrets.Current);
        var certs = await http.GetStringAsync($"http://127.0.0.1:{proxy.AdminPort}/certs");
        var entry = JsonDocument.Parse(certs).RootElement.GetProperty("certificates")[0];
        Assert.Equal(TestPki.Client.ToString(), entry.GetProperty("identity").GetString());
        Assert.InRange(entry.GetProperty("seconds_until_expiration").GetInt64(), 23 * 3600, 24 * 3600);
        Assert.Equal("ROOTCA", entry.GetProperty("ca_cert")[0].GetProperty("path").GetString());
        Assert.DoesNotContain("PRIVATE", certs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_TraceLogs_NeverShowTokenOrKey()
    {
        await using var ca = await FakeCa.StartAsync(TimeSpan.FromSeconds(4));
        var tokenFile = ca.TokenFile(TestPki.Client);
        var token = await File.ReadAllTextAsync(tokenFile);
        await using var process = await ProxyProcess.StartAsync(
            """{"static_resources": {"listeners": [], "clusters": []}}""",
            "--log-level", "trace", "--ca-address", ca.Address, "--ca-root", ca.RootFile, "--token-file", tokenFile);

        for (var i = 0; i < 200 && ca.Issued < 3; i++)
        {
            await Task.Delay(50); // a first certificate and two renewals
        }

        using var http = new HttpClient();
        var certs = await http.GetStringAsync($"http://127.0.0.1:{process.AdminPort}/certs");
        process.Terminate();
        await process.WaitForExitAsync(TimeSpan.FromSeconds(20));

        Assert.True(ca.Issued >= 3, "the proxy did not renew");
        var output = process.Output;
        Assert.Contains("Certificate for spiffe://cluster.local/ns/default/sa/client issued", output, StringComparison.Ordinal); // logs are captured
        Assert.DoesNotContain(token.Split('.')[0], output, StringComparison.Ordinal);
        Assert.DoesNotContain(token.Split('.')[1], output, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", output, StringComparison.Ordinal);
        Assert.DoesNotContain("BEGIN", output, StringComparison.Ordinal); // no PEM of any kind
        Assert.DoesNotContain("PRIVATE", certs, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.0, 0.45)]
    [InlineData(0.5, 0.50)]
    [InlineData(1.0, 0.55)]
    public void RenewalDelay_HalfLifeWithFivePercentJitter(double jitter, double fraction)
    {
        using var pki = new TestPki();
        var identity = pki.Identity(TestPki.Client, TimeSpan.FromHours(24));

        var delay = CertificateManager.RenewalDelay(identity, jitter, identity.ReceivedAt);

        Assert.InRange(delay.TotalHours, (24 * fraction) - 0.01, (24 * fraction) + 0.01);
    }

    [Fact]
    public void Backoff_DoublesFromOneSecondUpToAMinute()
    {
        Assert.Equal(1, CertificateManager.Backoff(1, 0.5).TotalSeconds, 3);
        Assert.Equal(2, CertificateManager.Backoff(2, 0.5).TotalSeconds, 3);
        Assert.Equal(8, CertificateManager.Backoff(4, 0.5).TotalSeconds, 3);
        Assert.Equal(60, CertificateManager.Backoff(30, 0.5).TotalSeconds, 3);
        Assert.InRange(CertificateManager.Backoff(3, 0.0).TotalSeconds, 3.19, 3.21);
    }
}

/// <summary>Renewal timing tests run apart from each other so load does not stretch them.</summary>
[CollectionDefinition(nameof(CertificateTimingCollection), DisableParallelization = true)]
public sealed class CertificateTimingCollection;
