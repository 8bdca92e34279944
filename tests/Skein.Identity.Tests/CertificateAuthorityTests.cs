using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;

namespace Skein.Identity.Tests;

public sealed class CertificateAuthorityTests
{
    private static readonly SpiffeId Reviews = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/reviews");
    private static readonly SpiffeId Frontend = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/frontend");

    [Fact]
    public void Sign_CsrForProvenIdentity_LeafHasExactlyThatSpiffeIdAnd24hLifetime()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-24T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        using var ca = CertificateAuthority.CreateSelfSigned("cluster.local", TimeSpan.FromDays(3650), time);
        using var key = WorkloadCertificates.CreateKey();

        var issued = ca.Sign(WorkloadCertificates.CreateSigningRequest(key, Reviews), Reviews, TimeSpan.FromHours(24));

        using var leaf = X509Certificate2.CreateFromPem(issued.LeafPem);
        Assert.True(SpiffeId.TryFromCertificate(leaf, out var id));
        Assert.Equal(Reviews, id);
        Assert.Equal(TimeSpan.FromHours(24), issued.NotAfter - time.GetUtcNow());
        Assert.Equal("1.2.840.10045.2.1", leaf.PublicKey.Oid.Value);
        Assert.False(leaf.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Equal(Reviews, new TrustBundle(ca.Roots, time).Verify(leaf, null, out var reason));
        Assert.Null(reason);
    }

    [Fact]
    public void Sign_CsrAskingForAnotherIdentity_Refused()
    {
        using var ca = CertificateAuthority.CreateSelfSigned("cluster.local", TimeSpan.FromDays(365));
        using var key = WorkloadCertificates.CreateKey();

        var error = Assert.Throws<SigningRefusedException>(() => ca.Sign(WorkloadCertificates.CreateSigningRequest(key, Frontend), Reviews, TimeSpan.FromHours(24)));

        Assert.Contains("other than spiffe://cluster.local/ns/default/sa/reviews", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sign_GarbageCsr_Refused()
    {
        using var ca = CertificateAuthority.CreateSelfSigned("cluster.local", TimeSpan.FromDays(365));

        Assert.Throws<SigningRefusedException>(() => ca.Sign("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----", Reviews, TimeSpan.FromHours(1)));
    }

    [Fact]
    public void Verify_LeafFromAnotherCa_Refused()
    {
        using var ours = CertificateAuthority.CreateSelfSigned("cluster.local", TimeSpan.FromDays(365));
        using var theirs = CertificateAuthority.CreateSelfSigned("cluster.local", TimeSpan.FromDays(365));
        using var key = WorkloadCertificates.CreateKey();
        using var leaf = X509Certificate2.CreateFromPem(theirs.Sign(WorkloadCertificates.CreateSigningRequest(key, Reviews), Reviews, TimeSpan.FromHours(1)).LeafPem);

        Assert.Null(new TrustBundle(ours.Roots).Verify(leaf, null, out var reason));
        Assert.NotNull(reason);
    }

    [Fact]
    public void Verify_ExpiredLeaf_Refused()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var ca = CertificateAuthority.CreateSelfSigned("cluster.local", TimeSpan.FromDays(365), time);
        using var key = WorkloadCertificates.CreateKey();
        using var leaf = X509Certificate2.CreateFromPem(ca.Sign(WorkloadCertificates.CreateSigningRequest(key, Reviews), Reviews, TimeSpan.FromHours(1)).LeafPem);

        time.Advance(TimeSpan.FromHours(2));

        Assert.Null(new TrustBundle(ca.Roots, time).Verify(leaf, null, out _));
    }

    [Fact]
    public void Verify_CombinedBundleDuringRootRotation_TrustsBothRoots()
    {
        using var oldCa = CertificateAuthority.CreateSelfSigned("cluster.local", TimeSpan.FromDays(365));
        using var newCa = CertificateAuthority.CreateSelfSigned("cluster.local", TimeSpan.FromDays(365));
        using var key = WorkloadCertificates.CreateKey();
        var csr = WorkloadCertificates.CreateSigningRequest(key, Reviews);
        using var oldLeaf = X509Certificate2.CreateFromPem(oldCa.Sign(csr, Reviews, TimeSpan.FromHours(1)).LeafPem);
        using var newLeaf = X509Certificate2.CreateFromPem(newCa.Sign(csr, Reviews, TimeSpan.FromHours(1)).LeafPem);

        var bundle = TrustBundle.FromPem(oldCa.RootsPem + newCa.RootsPem);

        Assert.Equal(Reviews, bundle.Verify(oldLeaf, null, out _));
        Assert.Equal(Reviews, bundle.Verify(newLeaf, null, out _));
    }

    [Fact]
    public void LoadOrCreate_NewDirectory_SavesKeyWith0600AndReloadsSameRoot()
    {
        var dir = Path.Combine(Path.GetTempPath(), "skein-ca-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var created = CertificateAuthority.LoadOrCreate(dir, "cluster.local");
            using var loaded = CertificateAuthority.LoadOrCreate(dir, "cluster.local");

            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "ca-key.pem")));
            Assert.Equal(created.Roots[0].Thumbprint, loaded.Roots[0].Thumbprint);
            Assert.True(created.Roots[0].NotAfter > DateTime.UtcNow.AddDays(3600));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
