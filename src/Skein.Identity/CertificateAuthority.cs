using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Skein.Identity;

/// <summary>Why a signing request was refused; the message is safe to return to the caller.</summary>
public sealed class SigningRefusedException(string message) : Exception(message);

/// <summary>A signed workload certificate and the chain up to (not including) the root.</summary>
public sealed record IssuedCertificate(string LeafPem, string ChainPem, DateTimeOffset NotBefore, DateTimeOffset NotAfter);

/// <summary>
/// Signs workload SVIDs from CSRs: exactly one URI SAN (the SPIFFE id the caller proved with its
/// token), ECDSA P-256, short-lived. The CA's own key stays inside this object.
/// </summary>
public sealed class CertificateAuthority : IDisposable
{
    private readonly X509Certificate2 _signer;
    private readonly IReadOnlyList<X509Certificate2> _chain;
    private readonly TimeProvider _time;

    private CertificateAuthority(X509Certificate2 signer, IReadOnlyList<X509Certificate2> chain, IReadOnlyList<X509Certificate2> roots, TimeProvider time)
    {
        _signer = signer;
        _chain = chain;
        Roots = roots;
        _time = time;
    }

    /// <summary>The trust anchors workloads verify peers against.</summary>
    public IReadOnlyList<X509Certificate2> Roots { get; }

    public X509Certificate2 SigningCertificate => _signer;

    public string RootsPem => string.Concat(Roots.Select(r => r.ExportCertificatePem() + "\n"));

    /// <summary>A new self-signed root (ECDSA P-256) for <paramref name="trustDomain"/>.</summary>
    public static CertificateAuthority CreateSelfSigned(string trustDomain, TimeSpan lifetime, TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"O={trustDomain}, CN=Skein root CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri($"spiffe://{trustDomain}"));
        request.CertificateExtensions.Add(san.Build());
        var now = time.GetUtcNow();
        var root = request.CreateSelfSigned(now.AddMinutes(-5), now + lifetime);
        return new CertificateAuthority(root, [], [root], time);
    }

    /// <summary>
    /// A plug-in CA, as Istio's cacerts: the signing certificate and key, the chain from it to the
    /// root (may be empty when it is the root) and the root certificates.
    /// </summary>
    public static CertificateAuthority Load(string certPem, string keyPem, string chainPem, string rootPem, TimeProvider? time = null)
    {
        var signer = X509Certificate2.CreateFromPem(certPem, keyPem);
        if (signer.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true })
        {
            throw new InvalidOperationException("the CA certificate is not a CA (basicConstraints CA:TRUE is missing)");
        }

        // Istio's cert-chain.pem runs from the CA certificate to the root; keep only what lies between.
        var chain = ReadAll(chainPem).Where(c => c.Thumbprint != signer.Thumbprint && !IsSelfSigned(c)).ToList();
        var roots = ReadAll(rootPem);
        if (roots.Count == 0)
        {
            throw new InvalidOperationException("the root certificate file holds no certificate");
        }

        return new CertificateAuthority(signer, chain, roots, time ?? TimeProvider.System);
    }

    /// <summary>Saves the CA as PEM files with 0600 permissions for the key.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var keyPath = Path.Combine(directory, "ca-key.pem");
        using (var stream = new FileStream(keyPath, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(_signer.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        }

        File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(Path.Combine(directory, "ca-cert.pem"), _signer.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(directory, "cert-chain.pem"), string.Concat(_chain.Select(c => c.ExportCertificatePem() + "\n")));
        File.WriteAllText(Path.Combine(directory, "root-cert.pem"), RootsPem);
    }

    /// <summary>
    /// A plug-in CA from files: the signing certificate and key, an optional chain to the root and the root
    /// bundle (several roots during a rotation). Errors name the file.
    /// </summary>
    public static CertificateAuthority LoadFiles(string certFile, string keyFile, string? chainFile, string rootFile, TimeProvider? time = null)
    {
        string Read(string file, string what) => File.Exists(file)
            ? File.ReadAllText(file)
            : throw new InvalidOperationException($"{what} {file} does not exist");

        var cert = Read(certFile, "CA certificate");
        var key = Read(keyFile, "CA key");
        var chain = chainFile is null ? "" : Read(chainFile, "CA chain");
        var root = Read(rootFile, "root certificate");
        try
        {
            return Load(cert, key, chain, root, time);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidOperationException($"cannot load the CA from {certFile} and {keyFile}: {ex.Message}", ex);
        }
    }

    /// <summary>Istio's <c>cacerts</c> layout: <c>ca-cert.pem</c>, <c>ca-key.pem</c>, <c>cert-chain.pem</c>, <c>root-cert.pem</c>.</summary>
    public static CertificateAuthority LoadDirectory(string directory, TimeProvider? time = null)
    {
        var chain = Path.Combine(directory, "cert-chain.pem");
        return LoadFiles(Path.Combine(directory, "ca-cert.pem"), Path.Combine(directory, "ca-key.pem"), File.Exists(chain) ? chain : null,
            Path.Combine(directory, "root-cert.pem"), time);
    }

    /// <summary>When the CA stops being usable: the earliest expiry of its signing certificate, chain and roots.</summary>
    public DateTimeOffset NotAfter =>
        new[] { _signer }.Concat(_chain).Concat(Roots).Min(c => new DateTimeOffset(c.NotAfter.ToUniversalTime(), TimeSpan.Zero));

    /// <summary>
    /// A TLS server certificate made and signed here, key included, for a service of the control plane itself
    /// (the CA's gRPC port): the SPIFFE id plus DNS names and addresses clients may dial. Returned with its chain.
    /// </summary>
    public (X509Certificate2 Certificate, X509Certificate2Collection Chain) IssueServing(SpiffeId id, IEnumerable<string> dnsNames, IEnumerable<System.Net.IPAddress> addresses, TimeSpan lifetime)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(id.ToUri());
        foreach (var dns in dnsNames)
        {
            names.AddDnsName(dns);
        }

        foreach (var address in addresses)
        {
            names.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(names.Build(critical: true));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_signer, true, false));
        var now = _time.GetUtcNow();
        var notAfter = now + lifetime;
        if (notAfter > _signer.NotAfter)
        {
            notAfter = _signer.NotAfter;
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var leaf = request.Create(_signer, now.AddMinutes(-1), notAfter, serial);
        using var withKey = leaf.CopyWithPrivateKey(key);
        var certificate = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        var chain = new X509Certificate2Collection();
        if (!IsSelfSigned(_signer))
        {
            chain.Add(X509CertificateLoader.LoadCertificate(_signer.RawData));
        }

        foreach (var c in _chain)
        {
            chain.Add(X509CertificateLoader.LoadCertificate(c.RawData));
        }

        return (certificate, chain);
    }

    /// <summary>Whether <paramref name="certificate"/> is a root: issued by itself.</summary>
    public static bool IsSelfSigned(X509Certificate2 certificate) => certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData);

    /// <summary>Loads the CA saved in <paramref name="directory"/>, or creates and saves a new root there.</summary>
    public static CertificateAuthority LoadOrCreate(string directory, string trustDomain, TimeProvider? time = null)
    {
        var cert = Path.Combine(directory, "ca-cert.pem");
        if (File.Exists(cert))
        {
            return Load(File.ReadAllText(cert), File.ReadAllText(Path.Combine(directory, "ca-key.pem")),
                ReadOptional(Path.Combine(directory, "cert-chain.pem")), File.ReadAllText(Path.Combine(directory, "root-cert.pem")), time);
        }

        var ca = CreateSelfSigned(trustDomain, TimeSpan.FromDays(3650), time);
        ca.Save(directory);
        return ca;
    }

    /// <summary>
    /// Signs <paramref name="csrPem"/> for exactly <paramref name="identity"/> (which the caller's
    /// token proved). A CSR asking for any other name is refused, as is a CSR whose signature is wrong.
    /// </summary>
    public IssuedCertificate Sign(string csrPem, SpiffeId identity, TimeSpan lifetime)
    {
        CertificateRequest request;
        try
        {
            // Extensions are read only to refuse a CSR that asks for another name; the leaf's
            // extensions are always built here from the proven identity, never copied.
            request = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        }
        catch (CryptographicException ex)
        {
            throw new SigningRefusedException($"invalid CSR: {ex.Message}");
        }

        foreach (var extension in request.CertificateExtensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san)
            {
                using var probe = CreateProbe(san);
                if (!SpiffeId.TryFromCertificate(probe, out var asked) || asked != identity)
                {
                    throw new SigningRefusedException($"the CSR asks for an identity other than {identity}");
                }
            }
        }

        if (request.PublicKey.Oid.Value != "1.2.840.10045.2.1")
        {
            throw new SigningRefusedException("the CSR key must be ECDSA P-256");
        }

        var leafRequest = new CertificateRequest(new X500DistinguishedName(""), request.PublicKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(identity.ToUri());
        leafRequest.CertificateExtensions.Add(names.Build(critical: true));
        leafRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new("1.3.6.1.5.5.7.3.1"), new("1.3.6.1.5.5.7.3.2")], false));
        leafRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_signer, true, false));

        var now = _time.GetUtcNow();
        var notBefore = now.AddMinutes(-1); // tolerate small clock skew between hosts
        var notAfter = now + lifetime;
        if (notAfter > _signer.NotAfter)
        {
            notAfter = _signer.NotAfter; // never outlive the CA
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var leaf = leafRequest.Create(_signer, notBefore, notAfter, serial);
        var chain = string.Concat(_chain.Select(c => c.ExportCertificatePem() + "\n"));
        if (!IsSelfSigned(_signer))
        {
            chain = _signer.ExportCertificatePem() + "\n" + chain;
        }

        return new IssuedCertificate(leaf.ExportCertificatePem() + "\n", chain, notBefore, notAfter);
    }

    public void Dispose()
    {
        _signer.Dispose();
        foreach (var c in _chain)
        {
            c.Dispose();
        }
    }

    private static X509Certificate2 CreateProbe(X509SubjectAlternativeNameExtension san)
    {
        // Read the requested SANs with the same code that reads certificates.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=probe", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(san);
        return request.CreateSelfSigned(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddDays(1));
    }

    private static List<X509Certificate2> ReadAll(string pem)
    {
        var collection = new X509Certificate2Collection();
        if (!string.IsNullOrWhiteSpace(pem))
        {
            collection.ImportFromPem(pem);
        }

        return [.. collection];
    }

    private static string ReadOptional(string path) => File.Exists(path) ? File.ReadAllText(path) : "";
}
