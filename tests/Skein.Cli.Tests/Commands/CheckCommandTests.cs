using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Skein.Cli.Tests.Commands;

/// <summary>
/// `skein check` as a user runs it, against a fake skein-control on loopback that serves the CA, proxy and config
/// APIs with chosen certificates, roots, clock and config.
/// </summary>
public sealed class CheckCommandTests
{
    private const string RootSha = "5e0a9c4a7f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5";
    private const string OldRootSha = "0000000000000000000000000000000000000000000000000000000000000000";

    private const string CleanConfig = """
        apiVersion: v1
        kind: Service
        metadata:
          name: reviews
          namespace: default
        spec:
          ports:
            - name: http
              port: 9080
        """;

    [Fact]
    public void Check_HealthyMesh_AllOkExitZero()
    {
        using var api = new FakeControlPlane(Mesh());

        var (code, stdout, stderr) = CliRunner.Run("check", "--control-plane", api.Url);

        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("all checks passed", stdout, StringComparison.Ordinal);
        Assert.Contains("spiffe://cluster.local/ns/default/sa/reviews", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_RootExpiresIn30Days_WarningAndExit2WithFailOnWarning()
    {
        using var api = new FakeControlPlane(Mesh(rootNotAfter: DateTimeOffset.UtcNow.AddDays(30)));

        var (code, stdout, _) = CliRunner.Run("check", "--control-plane", api.Url, "-o", "json");
        var (strictCode, _, _) = CliRunner.Run("check", "--control-plane", api.Url, "--fail-on-warning");

        Assert.Equal(0, code);
        Assert.Equal(2, strictCode);
        var root = Checks(stdout).Single(c => c.GetProperty("check").GetString() == "root");
        Assert.Equal("warning", root.GetProperty("status").GetString());
        Assert.Contains("expires in 29 days", root.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Check_ExpiredRoot_ErrorExit1()
    {
        using var api = new FakeControlPlane(Mesh(rootNotAfter: DateTimeOffset.UtcNow.AddDays(-2)));

        var (code, stdout, _) = CliRunner.Run("check", "--control-plane", api.Url, "-o", "json");

        Assert.Equal(1, code);
        var root = Checks(stdout).Single(c => c.GetProperty("check").GetString() == "root");
        Assert.Equal("error", root.GetProperty("status").GetString());
        Assert.StartsWith("expired", root.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.False(JsonDocument.Parse(stdout).RootElement.GetProperty("ok").GetBoolean());
    }

    [Fact]
    public void Check_NoCa_Error()
    {
        using var api = new FakeControlPlane(Mesh() with { Ca = null });

        var (code, stdout, _) = CliRunner.Run("check", "--control-plane", api.Url, "-o", "json");

        Assert.Equal(1, code);
        Assert.Contains(Checks(stdout), c => c.GetProperty("check").GetString() == "ca" && c.GetProperty("message").GetString()!.Contains("no certificate authority", StringComparison.Ordinal));
    }

    [Fact]
    public void Check_ProxyCertificateExpiredAndOldBundle_ErrorsNameTheProxy()
    {
        using var api = new FakeControlPlane(Mesh(certNotAfter: DateTimeOffset.UtcNow.AddMinutes(-30), heldRoot: OldRootSha));

        var (code, stdout, _) = CliRunner.Run("check", "--control-plane", api.Url, "-o", "json");

        Assert.Equal(1, code);
        var checks = Checks(stdout);
        var cert = checks.Single(c => c.GetProperty("check").GetString() == "certificate");
        Assert.Equal("reviews-v1-0", cert.GetProperty("subject").GetString());
        Assert.Equal("error", cert.GetProperty("status").GetString());
        Assert.Contains("expired 30 min ago", cert.GetProperty("message").GetString(), StringComparison.Ordinal);
        var bundle = checks.Single(c => c.GetProperty("check").GetString() == "trust-bundle");
        Assert.Equal("error", bundle.GetProperty("status").GetString());
        Assert.Contains("lacks root 5e0a9c4a7f1b", bundle.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Check_CertificatesFromCaEndpoint_WhenProxiesDoNotCarryThem()
    {
        using var api = new FakeControlPlane(Mesh(inlineCertificate: false, certNotAfter: DateTimeOffset.UtcNow.AddHours(2)));

        var (code, stdout, _) = CliRunner.Run("check", "--control-plane", api.Url, "-o", "json");

        Assert.Equal(0, code);
        var cert = Checks(stdout).Single(c => c.GetProperty("check").GetString() == "certificate");
        Assert.Equal("warning", cert.GetProperty("status").GetString()); // 2 h of a 24 h lifetime: renewal overdue
        Assert.Contains("renewal is overdue", cert.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Check_ClockTenMinutesAhead_Error()
    {
        using var api = new FakeControlPlane(Mesh() with { ClockOffset = TimeSpan.FromMinutes(10) });

        var (code, stdout, _) = CliRunner.Run("check", "--control-plane", api.Url, "-o", "json");

        Assert.Equal(1, code);
        var clock = Checks(stdout).Single(c => c.GetProperty("check").GetString() == "clock");
        Assert.Equal("error", clock.GetProperty("status").GetString());
        Assert.Contains(" min ahead of this machine", clock.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Check_AppliedConfigWithAnalyzeError_Error()
    {
        const string Broken = """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: reviews
              namespace: default
            spec:
              hosts: [reviews]
              http:
                - route:
                    - destination:
                        host: reviews
                        subset: v9
            """;
        using var api = new FakeControlPlane(Mesh() with { Config = CleanConfig + "\n---\n" + Broken });

        var (code, stdout, _) = CliRunner.Run("check", "--control-plane", api.Url, "-o", "json");

        Assert.Equal(1, code);
        Assert.Contains(Checks(stdout), c => c.GetProperty("check").GetString() == "config"
            && c.GetProperty("status").GetString() == "error" && c.GetProperty("message").GetString()!.Contains("SK0101", StringComparison.Ordinal));
    }

    [Fact]
    public void Check_ControlPlaneUnreachable_Exit64()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();

        var (code, _, stderr) = CliRunner.Run("check", "--control-plane", $"http://127.0.0.1:{port}");

        Assert.Equal(64, code);
        Assert.Contains("cannot reach the control plane", stderr, StringComparison.Ordinal);
    }

    private static List<JsonElement> Checks(string json) =>
        [.. JsonDocument.Parse(json).RootElement.GetProperty("checks").EnumerateArray().Select(e => e.Clone())];

    private static MeshState Mesh(DateTimeOffset? rootNotAfter = null, DateTimeOffset? certNotAfter = null, string heldRoot = RootSha, bool inlineCertificate = true)
    {
        var now = DateTimeOffset.UtcNow;
        string T(DateTimeOffset t) => t.ToString("O", CultureInfo.InvariantCulture);
        var rootEnd = rootNotAfter ?? now.AddYears(10);
        var ca = $$"""
            {"trustDomain": "cluster.local", "source": "self-signed", "controlPlaneIdentity": "spiffe://cluster.local/ns/skein-system/sa/skein-control",
             "notAfter": "{{T(rootEnd)}}", "secondsRemaining": 1, "workloadCertTtlSeconds": 86400,
             "signer": {"subject": "O=Skein, CN=Skein Root CA", "notBefore": "{{T(now.AddYears(-1))}}", "notAfter": "{{T(rootEnd)}}"},
             "roots": [{"subject": "O=Skein, CN=Skein Root CA", "notBefore": "{{T(now.AddYears(-1))}}", "notAfter": "{{T(rootEnd)}}", "sha256": "{{RootSha}}", "pem": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"}]}
            """;
        var cert = $$"""{"identity": "spiffe://cluster.local/ns/default/sa/reviews", "nodeId": "sidecar~198.18.1.2~reviews-v1-0.default~default.svc.cluster.local", "serial": "0a", "notBefore": "{{T(now.AddHours(-1))}}", "notAfter": "{{T(certNotAfter ?? now.AddHours(23))}}", "issuedAt": "{{T(now.AddHours(-1))}}"}""";
        var certificate = inlineCertificate ? ", \"certificate\": " + cert : string.Empty;
        var proxies = """
            {"proxies": [
              {"id": "sidecar~198.18.1.2~reviews-v1-0.default~default.svc.cluster.local", "workload": "reviews-v1", "namespace": "default", "instance": "reviews-v1-0",
               "mode": "sidecar", "connected": true, "rootsSha256": ["@ROOT@"], "types": {}@CERT@},
              {"id": "sidecar~198.18.1.3~gone-0.default~default.svc.cluster.local", "workload": "gone", "namespace": "default", "instance": "gone-0",
               "mode": "sidecar", "connected": false, "types": {}}
            ]}
            """.Replace("@ROOT@", heldRoot, StringComparison.Ordinal).Replace("@CERT@", certificate, StringComparison.Ordinal);
        return new MeshState(ca, proxies, $$"""{"certificates": [{{cert}}]}""", CleanConfig, TimeSpan.Zero);
    }

    private sealed record MeshState(string? Ca, string Proxies, string Certificates, string Config, TimeSpan ClockOffset);

    /// <summary>A minimal HTTP/1.1 server on loopback answering skein-control's API paths from <see cref="MeshState"/>.</summary>
    private sealed class FakeControlPlane : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly MeshState _state;

        public FakeControlPlane(MeshState state)
        {
            _state = state;
            _listener.Start();
            _ = Task.Run(AcceptAsync);
        }

        public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            _stop.Dispose();
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }

                _ = Task.Run(() => ServeAsync(client));
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            using (client)
            {
                var stream = client.GetStream();
                var reader = new StreamReader(stream, Encoding.ASCII);
                var requestLine = await reader.ReadLineAsync() ?? string.Empty;
                while (!string.IsNullOrEmpty(await reader.ReadLineAsync()))
                {
                }

                var path = requestLine.Split(' ') is { Length: >= 2 } parts ? parts[1] : "/";
                var (status, type, body) = path switch
                {
                    "/api/v1/ca" when _state.Ca is not null => (200, "application/json", _state.Ca),
                    "/api/v1/proxies" => (200, "application/json", _state.Proxies),
                    "/api/v1/ca/certificates" => (200, "application/json", _state.Certificates),
                    "/api/v1/config" => (200, "application/yaml", _state.Config),
                    "/api/v1/config/status" => (200, "application/json", """{"version": 1}"""),
                    _ => (404, "application/json", """{"error": "not found"}"""),
                };
                var bytes = Encoding.UTF8.GetBytes(body);
                var date = (DateTimeOffset.UtcNow + _state.ClockOffset).ToString("R", CultureInfo.InvariantCulture);
                var head = $"HTTP/1.1 {status} X\r\nDate: {date}\r\nContent-Type: {type}\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
                await stream.WriteAsync(bytes);
            }
        }
    }
}
