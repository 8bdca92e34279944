using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography.X509Certificates;

namespace Skein.Identity;

/// <summary>
/// A workload identity in Istio's SPIFFE form: <c>spiffe://&lt;trust-domain&gt;/ns/&lt;namespace&gt;/sa/&lt;service-account&gt;</c>.
/// </summary>
public readonly record struct SpiffeId(string TrustDomain, string Namespace, string ServiceAccount)
{
    public const string Scheme = "spiffe://";

    public Uri ToUri() => new(ToString());

    /// <summary>The principal as AuthorizationPolicy writes it: "cluster.local/ns/default/sa/frontend".</summary>
    public string Principal => $"{TrustDomain}/ns/{Namespace}/sa/{ServiceAccount}";

    public override string ToString() => Scheme + Principal;

    public static SpiffeId Parse(string text) =>
        TryParse(text, out var id) ? id : throw new FormatException($"\"{text}\" is not a SPIFFE id of the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>");

    public static bool TryParse([NotNullWhen(true)] string? text, out SpiffeId id)
    {
        id = default;
        if (text is null || !text.StartsWith(Scheme, StringComparison.Ordinal))
        {
            return false;
        }

        var parts = text[Scheme.Length..].Split('/');
        if (parts.Length != 5 || parts[1] != "ns" || parts[3] != "sa" || !ValidSegment(parts[0]) || !ValidSegment(parts[2]) || !ValidSegment(parts[4]))
        {
            return false;
        }

        id = new SpiffeId(parts[0], parts[2], parts[4]);
        return true;
    }

    /// <summary>
    /// The identity a workload certificate carries: it must have exactly one URI SAN, a SPIFFE id.
    /// Anything else (no SAN, several, not SPIFFE) is not an identity Skein trusts.
    /// </summary>
    public static bool TryFromCertificate(X509Certificate2 certificate, out SpiffeId id)
    {
        id = default;
        var uris = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san)
            {
                foreach (var name in EnumerateUris(san))
                {
                    uris.Add(name);
                }
            }
        }

        return uris.Count == 1 && TryParse(uris[0], out id);
    }

    private static IEnumerable<string> EnumerateUris(X509SubjectAlternativeNameExtension san)
    {
        // .NET exposes DNS names and IPs directly; URIs are read from the ASN.1 (context tag 6).
        var reader = new System.Formats.Asn1.AsnReader(san.RawData, System.Formats.Asn1.AsnEncodingRules.DER);
        var sequence = reader.ReadSequence();
        var uriTag = new System.Formats.Asn1.Asn1Tag(System.Formats.Asn1.TagClass.ContextSpecific, 6);
        while (sequence.HasData)
        {
            var tag = sequence.PeekTag();
            if (tag.HasSameClassAndValue(uriTag))
            {
                yield return sequence.ReadCharacterString(System.Formats.Asn1.UniversalTagNumber.IA5String, uriTag);
            }
            else
            {
                sequence.ReadEncodedValue();
            }
        }
    }

    private static bool ValidSegment(string segment) =>
        segment.Length is > 0 and <= 253 && segment.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_');
}
