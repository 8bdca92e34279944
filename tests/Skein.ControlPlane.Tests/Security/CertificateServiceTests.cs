using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Skein.Identity;
using Skein.Xds.Istio.Ca;

namespace Skein.ControlPlane.Tests.Security;

/// <summary>The CA of skein-control over gRPC on its TLS port, with bootstrap tokens.</summary>
public sealed class CertificateServiceTests
{
    private static readonly SpiffeId Reviews = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/reviews");
    private static readonly SpiffeId Ratings = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/ratings");

    [Fact]
    public async Task CreateCertificate_TokenForReviews_LeafWithExactlyThatSpiffeIdFor24h()
    {
        await using var ca = await CaHost.StartAsync();
        var token = ca.Host.Ca.Tokens.Issue(Reviews, TimeSpan.FromHours(1));
        using var key = WorkloadCertificates.CreateKey();

        var chain = await ca.CreateCertificateAsync(WorkloadCertificates.CreateSigningRequest(key, Reviews), token);

        var (leaf, intermediates, roots) = WorkloadCertificates.SplitChain(chain);
        Assert.Equal([(SanType.Uri, Reviews.ToString())], SanNames.Read(leaf));
        Assert.Equal(Reviews, new TrustBundle([.. roots]).Verify(leaf, intermediates, out _));
        Assert.Equal(ca.Host.Ca.Authority.Roots[0].Thumbprint, roots[0].Thumbprint);
        Assert.InRange((leaf.NotAfter.ToUniversalTime() - DateTime.UtcNow).TotalHours, 23.9, 24.01);
        Assert.True(leaf.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()));
    }

    [Fact]
    public async Task CreateCertificate_CsrWithoutSan_IdentityComesFromTheToken()
    {
        await using var ca = await CaHost.StartAsync();
        using var key = WorkloadCertificates.CreateKey();
        var csr = new CertificateRequest(new X500DistinguishedName(""), key, System.Security.Cryptography.HashAlgorithmName.SHA256).CreateSigningRequestPem();

        var chain = await ca.CreateCertificateAsync(csr, ca.Host.Ca.Tokens.Issue(Ratings, TimeSpan.FromHours(1)), validitySeconds: 600);

        var (leaf, _, _) = WorkloadCertificates.SplitChain(chain);
        Assert.Equal([Ratings.ToString()], SanNames.Uris(leaf));
        Assert.InRange((leaf.NotAfter.ToUniversalTime() - DateTime.UtcNow).TotalMinutes, 9, 10.1); // the request's lifetime, shorter than 24 h
    }

    [Fact]
    public async Task CreateCertificate_TokenForReviewsCsrForRatings_PermissionDenied()
    {
        await using var ca = await CaHost.StartAsync();
        using var key = WorkloadCertificates.CreateKey();

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            ca.CreateCertificateAsync(WorkloadCertificates.CreateSigningRequest(key, Ratings), ca.Host.Ca.Tokens.Issue(Reviews, TimeSpan.FromHours(1))));

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        Assert.Contains("other than spiffe://cluster.local/ns/default/sa/reviews", error.Status.Detail, StringComparison.Ordinal);
        Assert.Empty(ca.Host.Ca.Issued);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-token")]
    [InlineData("forged")]
    [InlineData("expired")]
    public async Task CreateCertificate_NoForgedOrExpiredToken_Unauthenticated(string? kind)
    {
        await using var ca = await CaHost.StartAsync();
        using var key = WorkloadCertificates.CreateKey();
        var token = kind switch
        {
            "forged" => new BootstrapTokens(BootstrapTokens.NewKey()).Issue(Reviews, TimeSpan.FromHours(1)),
            "expired" => ca.Host.Ca.Tokens.Issue(Reviews, TimeSpan.FromSeconds(-1)),
            _ => kind,
        };

        var error = await Assert.ThrowsAsync<RpcException>(() => ca.CreateCertificateAsync(WorkloadCertificates.CreateSigningRequest(key, Reviews), token));

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task CreateCertificate_OnThePlaintextPort_RefusedWithoutSigning()
    {
        await using var ca = await CaHost.StartAsync();
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{ca.Host.XdsPort}");
        var client = new IstioCertificateService.IstioCertificateServiceClient(channel);
        using var key = WorkloadCertificates.CreateKey();

        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.CreateCertificateAsync(
            new IstioCertificateRequest { Csr = WorkloadCertificates.CreateSigningRequest(key, Reviews) },
            new Metadata { { "authorization", "Bearer " + ca.Host.Ca.Tokens.Issue(Reviews, TimeSpan.FromHours(1)) } }));

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        Assert.Empty(ca.Host.Ca.Issued);
    }

    [Fact]
    public async Task SecurePort_ServesTls13WithControlPlaneIdentity()
    {
        await using var ca = await CaHost.StartAsync();
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync("127.0.0.1", ca.Host.SecureXdsPort);
        X509Certificate2? presented = null;
        await using var tls = new System.Net.Security.SslStream(tcp.GetStream(), false, (_, c, _, _) =>
        {
            presented = c is null ? null : X509CertificateLoader.LoadCertificate(c.GetRawCertData());
            return presented is not null && new TrustBundle(ca.Host.Ca.Authority.Roots).Verify(presented, null, out _) is not null;
        });

        await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [System.Net.Security.SslApplicationProtocol.Http2],
        });

        Assert.Equal(System.Security.Authentication.SslProtocols.Tls13, tls.SslProtocol);
        Assert.NotNull(presented);
        Assert.Contains("spiffe://cluster.local/ns/istio-system/sa/skein-control", SanNames.Uris(presented!));
        Assert.NotNull(new TrustBundle(ca.Host.Ca.Authority.Roots).Verify(presented!, null, out _));
    }

    [Fact]
    public async Task DataDirectory_CaCreatedOnFirstStart_KeysAre0600AndRootSurvivesRestart()
    {
        var dir = Path.Combine(Path.GetTempPath(), "skein-ca-tests", Guid.NewGuid().ToString("n"));
        try
        {
            string thumbprint;
            string token;
            await using (var first = await CaHost.StartAsync(o => o with { DataDir = dir }, dataDir: false))
            {
                thumbprint = first.Host.Ca.Authority.Roots[0].Thumbprint;
                token = first.Host.Ca.Tokens.Issue(Reviews, TimeSpan.FromHours(1));
                Assert.StartsWith("self-signed", first.Host.Ca.Source, StringComparison.Ordinal);
                Assert.InRange((first.Host.Ca.Authority.NotAfter - DateTimeOffset.UtcNow).TotalDays, 3640, 3651);
            }

            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "ca", "ca-key.pem")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "ca", "bootstrap-token.key")));
            await using var second = await CaHost.StartAsync(o => o with { DataDir = dir }, dataDir: false);
            Assert.Equal(thumbprint, second.Host.Ca.Authority.Roots[0].Thumbprint);
            Assert.Equal(Reviews, second.Host.Ca.Tokens.Verify(token)); // tokens handed to pods stay valid across a restart
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Api_CaAndTokensAndIssuedCertificates()
    {
        await using var ca = await CaHost.StartAsync(o => o with { WorkloadCertTtl = TimeSpan.FromHours(2) });

        using var info = JsonDocument.Parse(await ca.Http.GetStringAsync("/api/v1/ca"));
        Assert.Equal("cluster.local", info.RootElement.GetProperty("trustDomain").GetString());
        Assert.Equal(7200, info.RootElement.GetProperty("workloadCertTtlSeconds").GetInt64());
        var root = info.RootElement.GetProperty("roots")[0];
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", root.GetProperty("pem").GetString(), StringComparison.Ordinal);
        Assert.True(DateTimeOffset.Parse(info.RootElement.GetProperty("notAfter").GetString()!, System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow.AddDays(3000));

        using var tokenResponse = await ca.Http.PostAsJsonAsync("/api/v1/ca/tokens", new { @namespace = "default", serviceAccount = "reviews" });
        Assert.True(tokenResponse.IsSuccessStatusCode);
        using var token = JsonDocument.Parse(await tokenResponse.Content.ReadAsStringAsync());
        Assert.Equal(Reviews.ToString(), token.RootElement.GetProperty("identity").GetString());
        using var key = WorkloadCertificates.CreateKey();
        await ca.CreateCertificateAsync(WorkloadCertificates.CreateSigningRequest(key, Reviews), token.RootElement.GetProperty("token").GetString());

        using var issued = JsonDocument.Parse(await ca.Http.GetStringAsync("/api/v1/ca/certificates"));
        var entry = Assert.Single(issued.RootElement.GetProperty("certificates").EnumerateArray());
        Assert.Equal(Reviews.ToString(), entry.GetProperty("identity").GetString());

        using var bad = await ca.Http.PostAsJsonAsync("/api/v1/ca/tokens", new { @namespace = "default", serviceAccount = "a/b" });
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task Logs_AtTrace_NeverCarryTokensOrKeys()
    {
        var ca = await CaHost.StartAsync();
        var token = ca.Host.Ca.Tokens.Issue(Reviews, TimeSpan.FromHours(1));
        string caKey;
        await using (ca)
        {
            using var key = WorkloadCertificates.CreateKey();
            await ca.CreateCertificateAsync(WorkloadCertificates.CreateSigningRequest(key, Reviews), token);
            await Assert.ThrowsAsync<RpcException>(() => ca.CreateCertificateAsync(WorkloadCertificates.CreateSigningRequest(key, Ratings), token));
            await Assert.ThrowsAsync<RpcException>(() => ca.CreateCertificateAsync(WorkloadCertificates.CreateSigningRequest(key, Reviews), token + "x"));
            caKey = File.ReadAllText(Path.Combine(ca.DataDir!, "ca", "ca-key.pem"));
        }

        var logs = ca.Logs.All;
        Assert.Contains("issued spiffe://cluster.local/ns/default/sa/reviews", logs, StringComparison.Ordinal); // the capture works
        Assert.DoesNotContain(token.Split('.')[1], logs, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", logs, StringComparison.Ordinal);
        Assert.DoesNotContain(caKey.Split('\n')[1], logs, StringComparison.Ordinal);
    }
}
