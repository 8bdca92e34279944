using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace Skein.Identity;

/// <summary>The kinds of subject alternative name TLS peers are matched on (Envoy's SanType).</summary>
public enum SanType
{
    Email = 1,
    Dns = 2,
    Uri = 3,
    IpAddress = 4,
}

/// <summary>Reads every subject alternative name of a certificate, in order, from the ASN.1 of the extension.</summary>
public static class SanNames
{
    private static readonly Asn1Tag Email = new(TagClass.ContextSpecific, 1);
    private static readonly Asn1Tag Dns = new(TagClass.ContextSpecific, 2);
    private static readonly Asn1Tag Uri = new(TagClass.ContextSpecific, 6);
    private static readonly Asn1Tag Ip = new(TagClass.ContextSpecific, 7);

    public static IReadOnlyList<(SanType Type, string Value)> Read(X509Certificate2 certificate)
    {
        var names = new List<(SanType, string)>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension is not X509SubjectAlternativeNameExtension && extension.Oid?.Value != "2.5.29.17")
            {
                continue;
            }

            try
            {
                var sequence = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
                while (sequence.HasData)
                {
                    var tag = sequence.PeekTag();
                    if (tag.HasSameClassAndValue(Email))
                    {
                        names.Add((SanType.Email, sequence.ReadCharacterString(UniversalTagNumber.IA5String, Email)));
                    }
                    else if (tag.HasSameClassAndValue(Dns))
                    {
                        names.Add((SanType.Dns, sequence.ReadCharacterString(UniversalTagNumber.IA5String, Dns)));
                    }
                    else if (tag.HasSameClassAndValue(Uri))
                    {
                        names.Add((SanType.Uri, sequence.ReadCharacterString(UniversalTagNumber.IA5String, Uri)));
                    }
                    else if (tag.HasSameClassAndValue(Ip))
                    {
                        names.Add((SanType.IpAddress, new IPAddress(sequence.ReadOctetString(Ip)).ToString()));
                    }
                    else
                    {
                        sequence.ReadEncodedValue();
                    }
                }
            }
            catch (AsnContentException)
            {
                // A malformed SAN extension yields no names: nothing in it can be trusted.
                return [];
            }
        }

        return names;
    }

    public static IEnumerable<string> Uris(X509Certificate2 certificate) =>
        Read(certificate).Where(n => n.Type == SanType.Uri).Select(n => n.Value);
}
