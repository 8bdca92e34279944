using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Skein.Identity.Tests;

/// <summary>A plug-in CA (Istio's cacerts: root, intermediate, key, chain) and what its leaves carry.</summary>
public sealed class PluginCaTests : IDisposable
{
    private static readonly SpiffeId Reviews = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/reviews");
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "skein-cacerts-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public void LoadDirectory_IntermediateSigns_LeafVerifiesAgainstRootWithChainFromAnswer()
    {
        WriteCacerts(_dir);
        using var ca = CertificateAuthority.LoadDirectory(_dir);
        using var key = WorkloadCertificates.CreateKey();

        var issued = ca.Sign(WorkloadCertificates.CreateSigningRequest(key, Reviews), Reviews, TimeSpan.FromHours(1));
        var (leaf, intermediates, roots) = WorkloadCertificates.SplitChain([issued.LeafPem, issued.ChainPem, ca.RootsPem]);

        Assert.Single(intermediates);
        Assert.Equal("CN=Skein test intermediate", intermediates[0].Subject);
        Assert.Single(roots);
        Assert.Equal(Reviews, new TrustBundle([.. roots]).Verify(leaf, intermediates, out var reason));
        Assert.Null(reason);
        Assert.Null(new TrustBundle([.. roots]).Verify(leaf, null, out _)); // without the intermediate the chain is broken
    }

    [Fact]
    public void LoadFiles_MissingKey_ErrorNamesTheFile()
    {
        WriteCacerts(_dir);
        var missing = Path.Combine(_dir, "nope-key.pem");

        var error = Assert.Throws<InvalidOperationException>(() => CertificateAuthority.LoadFiles(
            Path.Combine(_dir, "ca-cert.pem"), missing, null, Path.Combine(_dir, "root-cert.pem")));

        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadFiles_LeafAsCaCertificate_Refused()
    {
        using var ca = CertificateAuthority.CreateSelfSigned("cluster.local", TimeSpan.FromDays(30));
        using var key = WorkloadCertificates.CreateKey();
        var issued = ca.Sign(WorkloadCertificates.CreateSigningRequest(key, Reviews), Reviews, TimeSpan.FromHours(1));
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, "leaf.pem"), issued.LeafPem);
        File.WriteAllText(Path.Combine(_dir, "leaf-key.pem"), key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(Path.Combine(_dir, "root.pem"), ca.RootsPem);

        var error = Assert.Throws<InvalidOperationException>(() => CertificateAuthority.LoadFiles(
            Path.Combine(_dir, "leaf.pem"), Path.Combine(_dir, "leaf-key.pem"), null, Path.Combine(_dir, "root.pem")));

        Assert.Contains("not a CA", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IssueServing_ControlPlaneIdentityAndDialedNames_ChainsToRoot()
    {
        using var ca = CertificateAuthority.CreateSelfSigned("cluster.local", TimeSpan.FromDays(30));
        var id = SpiffeId.Parse("spiffe://cluster.local/ns/istio-system/sa/skein-control");

        var (certificate, chain) = ca.IssueServing(id, ["localhost"], [IPAddress.Parse("198.18.0.1")], TimeSpan.FromDays(1));

        using (certificate)
        {
            Assert.True(certificate.HasPrivateKey);
            Assert.Empty(chain); // signed by the root itself
            Assert.Equal(
                [(SanType.Uri, id.ToString()), (SanType.Dns, "localhost"), (SanType.IpAddress, "198.18.0.1")],
                SanNames.Read(certificate));
            Assert.Equal(id, new TrustBundle(ca.Roots).Verify(certificate, null, out _));
        }
    }

    [Fact]
    public void NotAfter_IsTheEarliestOfSignerAndRoots()
    {
        WriteCacerts(_dir, intermediateDays: 40);
        using var ca = CertificateAuthority.LoadDirectory(_dir);

        Assert.InRange((ca.NotAfter - DateTimeOffset.UtcNow).TotalDays, 39, 41);
    }

    /// <summary>Writes Istio's cacerts layout: a root (3650 d) and an intermediate that signs (the CA cert).</summary>
    private static void WriteCacerts(string dir, int intermediateDays = 365)
    {
        Directory.CreateDirectory(dir);
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=Skein test root", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        using var root = rootRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(3650));

        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Skein test intermediate", intermediateKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
        using var intermediate = request.Create(root, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(intermediateDays), [1, 2, 3, 4]);

        File.WriteAllText(Path.Combine(dir, "ca-cert.pem"), intermediate.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(dir, "ca-key.pem"), intermediateKey.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(Path.Combine(dir, "cert-chain.pem"), intermediate.ExportCertificatePem() + "\n" + root.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(dir, "root-cert.pem"), root.ExportCertificatePem() + "\n");
    }
}
