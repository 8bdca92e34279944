using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Skein.Identity;
using Skein.Proxy.Identity;

namespace Skein.Proxy.Tls;

/// <summary>What a peer certificate is checked against: roots, extra intermediates, accepted SANs, pinned hashes.</summary>
internal sealed record PeerTrust(
    X509Certificate2Collection Roots,
    X509Certificate2Collection Intermediates,
    ImmutableArray<SanMatch> SubjectAltNames,
    ImmutableArray<string> CertificateHashes,
    ImmutableArray<string> SpkiHashes);

/// <summary>
/// Envoy's certificate validation: the chain must end at one of the trusted roots and be within its validity
/// at the proxy's clock; then, when SAN matchers are configured, at least one SAN of the matching type must match
/// one of them; pinned hashes (SHA-256 of the DER, or of the SPKI, base64) must match when given.
/// </summary>
internal static class PeerVerifier
{
    /// <summary>Null when the certificate passes, else why not (for logs and the transport failure reason).</summary>
    public static string? Verify(X509Certificate2? leaf, X509Chain? sent, PeerTrust trust, DateTimeOffset now)
    {
        if (leaf is null)
        {
            return "peer presented no certificate";
        }

        using (var chain = new X509Chain())
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.DisableCertificateDownloads = true;
            chain.ChainPolicy.VerificationTime = now.UtcDateTime;
            chain.ChainPolicy.VerificationTimeIgnored = false;
            chain.ChainPolicy.CustomTrustStore.AddRange(trust.Roots);
            chain.ChainPolicy.ExtraStore.AddRange(trust.Intermediates);
            if (sent is not null)
            {
                foreach (var element in sent.ChainElements)
                {
                    chain.ChainPolicy.ExtraStore.Add(element.Certificate);
                }

                chain.ChainPolicy.ExtraStore.AddRange(sent.ChainPolicy.ExtraStore);
            }

            if (!chain.Build(leaf))
            {
                var reasons = chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct().ToList();
                return "certificate verify failed: " + (reasons.Count > 0 ? string.Join("; ", reasons) : "untrusted chain");
            }
        }

        if (!trust.SubjectAltNames.IsDefaultOrEmpty)
        {
            var names = SanNames.Read(leaf);
            var matched = false;
            foreach (var m in trust.SubjectAltNames)
            {
                foreach (var (type, value) in names)
                {
                    if ((m.Kind == SanKind.Unspecified || (int)m.Kind == (int)type) && m.Matcher.Matches(value))
                    {
                        matched = true;
                        break;
                    }
                }

                if (matched)
                {
                    break;
                }
            }

            if (!matched)
            {
                var shown = names.Count == 0 ? "none" : string.Join(", ", names.Select(n => n.Value));
                return $"SAN mismatch: peer has {shown}, expected {string.Join(" or ", trust.SubjectAltNames.Select(m => m.Matcher.Value))}";
            }
        }

        if (!trust.CertificateHashes.IsDefaultOrEmpty)
        {
            var hash = Convert.ToHexString(SHA256.HashData(leaf.RawData));
            if (!trust.CertificateHashes.Any(h => string.Equals(h.Replace(":", "", StringComparison.Ordinal), hash, StringComparison.OrdinalIgnoreCase)))
            {
                return "certificate hash mismatch";
            }
        }

        if (!trust.SpkiHashes.IsDefaultOrEmpty)
        {
            var spki = Convert.ToBase64String(SHA256.HashData(leaf.PublicKey.ExportSubjectPublicKeyInfo()));
            if (!trust.SpkiHashes.Contains(spki, StringComparer.Ordinal))
            {
                return "certificate SPKI mismatch";
            }
        }

        return null;
    }

    /// <summary>The peer as RBAC and telemetry see it: its SPIFFE id (first URI SAN of that form) and every SAN.</summary>
    public static PeerIdentity? Identify(X509Certificate2? leaf)
    {
        if (leaf is null)
        {
            return null;
        }

        var names = SanNames.Read(leaf);
        var spiffe = names.FirstOrDefault(n => n.Type == SanType.Uri && n.Value.StartsWith(SpiffeId.Scheme, StringComparison.Ordinal)).Value;
        return new PeerIdentity(spiffe ?? "", [.. names.Where(n => n.Type is SanType.Uri or SanType.Dns).Select(n => n.Value)]);
    }
}
