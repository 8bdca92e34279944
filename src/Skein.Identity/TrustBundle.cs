using System.Security.Cryptography.X509Certificates;

namespace Skein.Identity;

/// <summary>
/// The roots a workload trusts (several during a root rotation) and the check every TLS peer
/// goes through: chain to a root, unexpired, exactly one SPIFFE id.
/// </summary>
public sealed class TrustBundle(IReadOnlyList<X509Certificate2> roots, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public IReadOnlyList<X509Certificate2> Roots { get; } = roots;

    public static TrustBundle FromPem(string pem, TimeProvider? time = null)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPem(pem);
        return new TrustBundle([.. collection], time);
    }

    /// <summary>The peer's identity when its chain is valid, else null with the reason.</summary>
    public SpiffeId? Verify(X509Certificate2 leaf, IEnumerable<X509Certificate2>? intermediates, out string? reason)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        chain.ChainPolicy.CustomTrustStore.AddRange(Roots.ToArray());
        if (intermediates is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(intermediates.ToArray());
        }

        if (!chain.Build(leaf))
        {
            reason = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).DefaultIfEmpty("untrusted chain"));
            return null;
        }

        if (!SpiffeId.TryFromCertificate(leaf, out var id))
        {
            reason = "certificate does not carry exactly one SPIFFE id";
            return null;
        }

        reason = null;
        return id;
    }
}
