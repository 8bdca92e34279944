using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Skein.Identity;

/// <summary>Key and CSR helpers for the proxy side: the private key is made here and never leaves.</summary>
public static class WorkloadCertificates
{
    /// <summary>A new ECDSA P-256 key, as DESIGN.md section 4 requires.</summary>
    public static ECDsa CreateKey() => ECDsa.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>A PEM PKCS#10 request for <paramref name="id"/>, signed with <paramref name="key"/>.</summary>
    public static string CreateSigningRequest(ECDsa key, SpiffeId id)
    {
        var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(id.ToUri());
        request.CertificateExtensions.Add(san.Build(critical: true));
        return request.CreateSigningRequestPem();
    }

    /// <summary>Joins a signed leaf with its key for use in TLS (the returned certificate owns a copy of the key).</summary>
    public static X509Certificate2 WithKey(string leafPem, ECDsa key)
    {
        using var leaf = X509Certificate2.CreateFromPem(leafPem);
        using var withKey = leaf.CopyWithPrivateKey(key);
        // Round-trip through PKCS#12 so that SslStream on Linux can use the key.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);
    }

    /// <summary>
    /// Splits a CA answer (PEM certificates, leaf first) into the leaf, the intermediates and the roots: every
    /// self-issued certificate after the leaf is a root, so a combined bundle (old and new roots) comes through whole.
    /// </summary>
    public static (X509Certificate2 Leaf, X509Certificate2Collection Intermediates, X509Certificate2Collection Roots) SplitChain(IEnumerable<string> pems)
    {
        var all = new X509Certificate2Collection();
        foreach (var pem in pems)
        {
            all.ImportFromPem(pem);
        }

        if (all.Count == 0)
        {
            throw new CryptographicException("the answer holds no certificate");
        }

        var intermediates = new X509Certificate2Collection();
        var roots = new X509Certificate2Collection();
        for (var i = 1; i < all.Count; i++)
        {
            (CertificateAuthority.IsSelfSigned(all[i]) ? roots : intermediates).Add(all[i]);
        }

        return (all[0], intermediates, roots);
    }
}
