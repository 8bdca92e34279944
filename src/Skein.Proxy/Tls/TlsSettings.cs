using System.Collections.Immutable;
using System.Security.Authentication;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.Tls;

/// <summary>Where a certificate, key or trust bundle comes from: inline PEM, a file, or an SDS secret by name.</summary>
internal sealed record TlsMaterial(string? InlinePem, string? FileName, string? SdsSecretName)
{
    public override string ToString() =>
        SdsSecretName is not null ? "sds:" + SdsSecretName : FileName is not null ? "file:" + FileName : "inline";
}

/// <summary>How the peer certificate is checked: trust bundle and the SANs (e.g. SPIFFE ids) that are accepted.</summary>
internal sealed record TlsValidation(
    TlsMaterial? TrustedCa,
    ImmutableArray<SanMatch> SubjectAltNames,
    ImmutableArray<string> CertificateHashes,
    ImmutableArray<string> SpkiHashes);

/// <summary>What kind of SAN a <see cref="SanMatch"/> looks at.</summary>
internal enum SanKind
{
    Unspecified,
    Email,
    Dns,
    Uri,
    IpAddress,
}

/// <summary>One accepted subject alternative name.</summary>
internal sealed record SanMatch(SanKind Kind, StringMatch Matcher);

/// <summary>The TLS settings shared by client and server sides (Envoy's <c>CommonTlsContext</c>).</summary>
internal sealed record CommonTlsSettings(
    SslProtocols MinimumProtocol, // None = let the platform choose (TLS 1.2+)
    SslProtocols MaximumProtocol,
    ImmutableArray<string> CipherSuites,
    ImmutableArray<(TlsMaterial Certificate, TlsMaterial PrivateKey)> Certificates,
    ImmutableArray<string> CertificateSdsNames,
    TlsValidation? Validation,
    string? ValidationSdsName,
    ImmutableArray<string> AlpnProtocols);

/// <summary>A cluster's TLS origination settings (compiled from <c>UpstreamTlsContext</c>).</summary>
internal sealed record UpstreamTlsSettings(CommonTlsSettings Common, string? Sni);

/// <summary>A filter chain's TLS termination settings (compiled from <c>DownstreamTlsContext</c>).</summary>
internal sealed record DownstreamTlsSettings(CommonTlsSettings Common, bool RequireClientCertificate);
