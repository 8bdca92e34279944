using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Skein.Xds.Istio.Ca;

namespace Skein.EndToEnd.Tests;

/// <summary>
/// Issue 6 on the real netns runtime: tries to get in where it must not. The `legacy` pod of samples/client runs
/// without a sidecar (plaintext, no identity); the sidecars get their certificates from skein-control's CA with the
/// bootstrap token `skein up` gave their pod, and renew them every minute or so (the fixture's short lifetime).
/// </summary>
[Collection("mesh")]
public sealed class SecurityTests(MeshFixture mesh) : IDisposable
{
    private const string StrictReviews = """
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: reviews-strict
        spec:
          selector:
            matchLabels:
              app: reviews
          mtls:
            mode: STRICT
        """;

    private const string Legacy = "legacy-0";

    /// <summary>The pods a page request crosses (reviews v2 is the version that calls ratings).</summary>
    private static readonly string[] CallPath = ["client-0", "frontend-0", "reviews-v2-0", "ratings-0"];

    private readonly List<string> _files = [];
    private readonly string _scratch = Directory.CreateTempSubdirectory("skein-e2e-security-").FullName;

    public void Dispose()
    {
        foreach (var file in _files)
        {
            mesh.Skein("delete", "-f", file);
            File.Delete(file);
        }

        Directory.Delete(_scratch, recursive: true);
    }

    [MeshFact]
    public void PodWithoutSidecar_PermissiveLetsItIn_StrictRefusesItButNotSidecars()
    {
        var reviews = $"http://{mesh.PodAddress("reviews-v1-0")}:9080/reviews/1";

        // PERMISSIVE (the default): plaintext from a pod outside the mesh is served.
        Assert.Equal("200", FromLegacy($"curl -s -o /dev/null -w '%{{http_code}}' {reviews}"));

        Apply("strict", StrictReviews);
        Assert.True(Eventually.True(() => FromLegacy($"curl -s -m 5 -o /dev/null -w '%{{http_code}}' {reviews}") == "000"), "STRICT did not take effect within 10 s");

        // Every plaintext attempt is refused (the connection is closed, no HTTP answer); sidecars still get in.
        var plaintext = Lines(FromLegacy($"curl -s -m 5 -o /dev/null -w '%{{http_code}}\\n' '{reviews}?n=[1-10]'"));
        var meshed = Lines(mesh.Exec("curl -s -o /dev/null -w '%{http_code}\\n' 'http://reviews:9080/reviews/1?n=[1-20]'").Stdout);
        Assert.Equal(Enumerable.Repeat("000", 10), plaintext);
        Assert.Equal(Enumerable.Repeat("200", 20), meshed);
    }

    [MeshFact]
    public void SidecarToSidecar_Tls13OnTheWire_NoPlaintextInACapture()
    {
        var secret = "wire-" + Guid.NewGuid().ToString("N");
        var plain = "plain-" + Guid.NewGuid().ToString("N");
        var capture = Path.Combine(_scratch, "bridge.pcap");
        var reviewsAddress = mesh.PodAddress("reviews-v1-0");
        // A service of its own for reviews: a new cluster in the client's sidecar, so a new connection and a TLS
        // handshake happen while the capture runs (the sidecars keep their connections to reviews open otherwise).
        var service = "wire-" + Guid.NewGuid().ToString("N")[..8];
        Apply(service, $$"""
            apiVersion: v1
            kind: Service
            metadata: {name: {{service}}}
            spec:
              selector: {app: reviews}
              ports: [{name: http, port: 9080}]
            """);

        byte[] bytes;
        using (var tcpdump = Tcpdump.Start(capture, "tcp port 9080"))
        {
            // Through both sidecars (mTLS), and from the pod without a sidecar (plaintext: proves the capture sees HTTP).
            var code = "";
            Assert.True(
                Eventually.True(() => (code = mesh.Exec($"curl -s -o /dev/null -w '%{{http_code}}' -H 'x-secret: {secret}' 'http://{service}:9080/reviews/1?secret={secret}'").Stdout.Trim()) == "200"),
                $"{service} answered {code}");
            Assert.Equal("200", FromLegacy($"curl -s -o /dev/null -w '%{{http_code}}' 'http://{reviewsAddress}:9080/reviews/1?plain={plain}'"));

            // tcpdump writes each packet as it comes (-U); on a busy machine that can lag the calls a little.
            var clock = Stopwatch.StartNew();
            while (!Contains(bytes = ReadShared(capture), Encoding.ASCII.GetBytes(plain)) && clock.Elapsed < TimeSpan.FromSeconds(10))
            {
                Thread.Sleep(200);
            }

            tcpdump.Stop();
            bytes = ReadShared(capture);
            Assert.True(Contains(bytes, Encoding.ASCII.GetBytes(plain)), $"the capture ({bytes.Length} bytes) holds no plaintext at all: it did not see the traffic; tcpdump: {tcpdump.Output}");
        }

        Assert.False(Contains(bytes, Encoding.ASCII.GetBytes(secret)), "the mTLS call's path or header is readable on the bridge");
        // A TLS 1.3 ServerHello: the supported_versions extension (0x002b, length 2) selecting 0x0304.
        Assert.True(Contains(bytes, [0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]), "no TLS 1.3 ServerHello on the wire");
    }

    [MeshFact]
    public async Task BootstrapTokenOfClient_CannotObtainACertificateForFrontend()
    {
        var identity = Path.Combine(mesh.RunDir, "pods", "client-0", "identity");
        var token = (await File.ReadAllTextAsync(Path.Combine(identity, "token"))).Trim();
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(Path.Combine(identity, "root-cert.pem"));
        using var channel = GrpcChannel.ForAddress("https://198.18.0.1:15012", new GrpcChannelOptions
        {
            // As the sidecar does: the CA's certificate must chain to the mesh root the pod was given.
            HttpHandler = new SocketsHttpHandler
            {
                UseProxy = false,
                SslOptions =
                {
                    RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    {
                        using var chain = new X509Chain();
                        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                        return certificate is X509Certificate2 server && chain.Build(server);
                    },
                },
            },
        });
        var ca = new IstioCertificateService.IstioCertificateServiceClient(channel);
        var auth = new Metadata { { "authorization", "Bearer " + token } };

        var own = await ca.CreateCertificateAsync(new IstioCertificateRequest { Csr = SigningRequest("client") }, auth);
        var other = await Assert.ThrowsAsync<RpcException>(async () =>
            await ca.CreateCertificateAsync(new IstioCertificateRequest { Csr = SigningRequest("frontend") }, auth));
        var forged = await Assert.ThrowsAsync<RpcException>(async () =>
            await ca.CreateCertificateAsync(new IstioCertificateRequest { Csr = SigningRequest("frontend") }, new Metadata { { "authorization", "Bearer " + Tamper(token) } }));

        using var leaf = X509Certificate2.CreateFromPem(own.CertChain[0]);
        Assert.Contains("spiffe://cluster.local/ns/default/sa/client", SubjectAltNames(leaf), StringComparison.Ordinal);
        Assert.Equal(StatusCode.PermissionDenied, other.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, forged.StatusCode);
    }

    [MeshFact]
    public void ClientCertificates_MeshCaAccepted_ExpiredOrFromAnotherCaRefused()
    {
        Apply("strict", StrictReviews);
        var reviews = $"https://{mesh.PodAddress("reviews-v1-0")}:9080/reviews/1";
        var caDir = Path.Combine(mesh.RunDir, "control", "ca");
        using var meshCa = X509Certificate2.CreateFromPemFile(Path.Combine(caDir, "ca-cert.pem"), Path.Combine(caDir, "ca-key.pem"));
        using var otherCa = SelfSignedCa("not the mesh");
        var now = DateTimeOffset.UtcNow;

        // The same identity each time (frontend's); only who signed it and when it is valid differ.
        var valid = WriteClientCertificate("valid", meshCa, now.AddMinutes(-1), now.AddHours(1));
        // Expired: valid for 30 s from the CA's own start (which is backdated a minute before the mesh came up).
        var caStart = new DateTimeOffset(meshCa.NotBefore.ToUniversalTime(), TimeSpan.Zero);
        var expired = WriteClientCertificate("expired", meshCa, caStart, caStart.AddSeconds(30));
        var foreign = WriteClientCertificate("foreign", otherCa, now.AddMinutes(-1), now.AddHours(1));

        string Call(string name) => FromLegacy($"curl -sk -m 5 --cert {name}.crt --key {name}.key -o /dev/null -w '%{{http_code}}' {reviews}");
        Assert.True(Eventually.True(() => Call(valid) == "200"), $"a client certificate from the mesh CA was refused: {Call(valid)}");
        Assert.Equal("000", Call(expired));
        Assert.Equal("000", Call(foreign));
    }

    [MeshFact]
    public void Certificates_RenewedUnderSteadyLoad_ZeroFailedCalls()
    {
        var id = "rotation-" + Guid.NewGuid().ToString("N")[..8];
        var before = Serials();

        // Steady traffic through client → frontend → reviews → ratings for longer than the renewal interval
        // (half of the fixture's 2 min lifetime, ±5%): every sidecar on the path renews at least once meanwhile.
        var codes = mesh.Exec($"curl -s --rate 8/s -H 'x-request-id: {id}' -o /dev/null -w '%{{http_code}}\\n' 'http://frontend:9080/?n=[1-600]' | sort | uniq -c", 300).Stdout;
        var after = Serials();

        Assert.Matches(@"^\s*600 200\s*$", codes);
        foreach (var pod in before.Keys)
        {
            Assert.True(before[pod] != after[pod], $"{pod}'s sidecar did not renew its certificate during the load");
        }

        // Every hop behind the frontend too (the page would hide a failed reviews or ratings call): the sidecars'
        // access logs hold each call of this test, on both sides, and every one of them succeeded.
        var hops = Directory.GetFiles(Path.Combine(mesh.RunDir, "logs"), "*-proxy.log")
            .SelectMany(File.ReadLines)
            .Where(l => l.Contains(id, StringComparison.Ordinal))
            .ToList();
        Assert.True(hops.Count >= 600 * 6, $"only {hops.Count} access log lines for {id}");
        Assert.All(hops, l => Assert.Contains("\"response_code\":200,", l, StringComparison.Ordinal));
    }

    [MeshFact]
    public void Logs_NeverCarryTokensOrPrivateKeys()
    {
        // After the other tests of the collection have run traffic, rotated certificates and refused intruders.
        var tokens = Directory.GetDirectories(Path.Combine(mesh.RunDir, "pods"))
            .Select(d => Path.Combine(d, "identity", "token"))
            .Where(File.Exists)
            .Select(f => File.ReadAllText(f).Trim())
            .ToList();
        var logs = Directory.GetFiles(Path.Combine(mesh.RunDir, "logs")).ToDictionary(f => f, File.ReadAllText);

        Assert.NotEmpty(tokens);
        Assert.NotEmpty(logs);
        foreach (var (file, text) in logs)
        {
            Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
            Assert.All(tokens, t => Assert.False(text.Contains(t, StringComparison.Ordinal), $"{file} holds a bootstrap token"));
            // Not even the token's signature part on its own.
            Assert.All(tokens, t => Assert.False(text.Contains(t[(t.LastIndexOf('.') + 1)..], StringComparison.Ordinal), $"{file} holds part of a token"));
        }
    }

    /// <summary>The serial of the workload certificate each sidecar on the call path holds now (admin <c>/certs</c>).</summary>
    private Dictionary<string, string> Serials() =>
        CallPath.ToDictionary(pod => pod, pod =>
        {
            var json = SkeinCli.Exec(mesh.RunDir, pod, "curl -s http://127.0.0.1:15000/certs", TimeSpan.FromSeconds(30)).Stdout;
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.GetProperty("certificates")[0].GetProperty("cert_chain")[0].GetProperty("serial_number").GetString()!;
        });

    private string FromLegacy(string shell) =>
        SkeinCli.Exec(mesh.RunDir, Legacy, $"cd {_scratch} && {shell}", TimeSpan.FromSeconds(120)).Stdout.Trim();

    private void Apply(string name, string yaml)
    {
        var file = Path.Combine(_scratch, $"{name}.yaml");
        File.WriteAllText(file, yaml);
        _files.Add(file);
        var result = mesh.Skein("apply", "-f", file);
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    /// <summary>Writes NAME.crt (the leaf, then the signer) and NAME.key for frontend's identity; returns NAME.</summary>
    private string WriteClientCertificate(string name, X509Certificate2 issuer, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri("spiffe://cluster.local/ns/default/sa/frontend"));
        request.CertificateExtensions.Add(san.Build(critical: true));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2"), new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var leaf = request.Create(issuer, notBefore, notAfter, RandomNumberGenerator.GetBytes(16));
        File.WriteAllText(Path.Combine(_scratch, name + ".crt"), leaf.ExportCertificatePem() + "\n" + issuer.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(_scratch, name + ".key"), key.ExportPkcs8PrivateKeyPem() + "\n");
        return name;
    }

    private static X509Certificate2 SelfSignedCa(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"O={name}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    private static string SigningRequest(string serviceAccount)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri($"spiffe://cluster.local/ns/default/sa/{serviceAccount}"));
        request.CertificateExtensions.Add(san.Build(critical: true));
        return request.CreateSigningRequestPem();
    }

    private static string SubjectAltNames(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().Format(multiLine: false);

    /// <summary>
    /// The token with the first character of its signature changed (not the last: in base64 its low bits are
    /// padding, and some changes there decode to the same signature).
    /// </summary>
    private static string Tamper(string token)
    {
        var at = token.LastIndexOf('.') + 1;
        return string.Concat(token.AsSpan(0, at), token[at] == 'A' ? "B" : "A", token.AsSpan(at + 1));
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    /// <summary>The capture so far, read while tcpdump may still be writing it.</summary>
    private static byte[] ReadShared(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static List<string> Lines(string text) => [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];


    /// <summary>
    /// tcpdump on every interface of the host's namespace (the bridge and each pod's veth, where pod-to-pod traffic
    /// passes), writing a capture file; always stopped, also when a test fails.
    /// </summary>
    private sealed class Tcpdump : IDisposable
    {
        private readonly Process _process;
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();

        private Tcpdump(Process process) => _process = process;

        public static Tcpdump Start(string file, string filter)
        {
            var start = new ProcessStartInfo("tcpdump") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var arg in (string[])["-i", "any", "-U", "-s", "0", "-w", file, filter])
            {
                start.ArgumentList.Add(arg);
            }

            var process = Process.Start(start)!;
            var dump = new Tcpdump(process);
            // tcpdump says "listening on any" once the capture runs.
            var ready = new TaskCompletionSource();
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    return;
                }

                dump._output.Enqueue(e.Data);
                if (e.Data.Contains("listening on", StringComparison.Ordinal))
                {
                    ready.TrySetResult();
                }
            };
            process.BeginErrorReadLine();
            if (!ready.Task.Wait(TimeSpan.FromSeconds(10)))
            {
                process.Kill();
                throw new InvalidOperationException("tcpdump did not start capturing within 10 s");
            }

            return dump;
        }

        /// <summary>What tcpdump said on stderr (interfaces, packet counts), for a failure message.</summary>
        public string Output => string.Join(" | ", _output);

        /// <summary>SIGINT: tcpdump flushes the capture file and exits.</summary>
        public void Stop()
        {
            if (_process.HasExited)
            {
                return;
            }

            Thread.Sleep(500); // let the last packets reach the capture
            using var kill = Process.Start("kill", ["-INT", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
            if (!_process.WaitForExit(TimeSpan.FromSeconds(5)))
            {
                _process.Kill();
            }
        }

        public void Dispose()
        {
            Stop();
            _process.Dispose();
        }
    }
}
