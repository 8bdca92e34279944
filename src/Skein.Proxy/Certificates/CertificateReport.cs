using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Skein.Identity;

namespace Skein.Proxy.Certificates;

/// <summary>
/// The admin <c>/certs</c> answer in Envoy's shape (<c>certificates[].cert_chain</c> and <c>ca_cert</c> with
/// <c>serial_number</c>, <c>subject_alt_names</c>, <c>valid_from</c>, <c>expiration_time</c>,
/// <c>days_until_expiration</c>), plus <c>identity</c> and <c>seconds_until_expiration</c> for scripts. No key material.
/// </summary>
internal static class CertificateReport
{
    public static string Write(WorkloadSecrets secrets, DateTimeOffset now)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("certificates");
            if (secrets.Current is { } identity)
            {
                w.WriteStartObject();
                w.WriteString("identity", identity.Id?.ToString() ?? "");
                w.WriteNumber("seconds_until_expiration", Math.Max(0, (long)(identity.NotAfter - now).TotalSeconds));
                w.WriteStartArray("cert_chain");
                Certificate(w, WorkloadSecrets.DefaultSecret, identity.Certificate, now);
                foreach (var intermediate in identity.Intermediates)
                {
                    Certificate(w, WorkloadSecrets.DefaultSecret, intermediate, now);
                }

                w.WriteEndArray();
                w.WriteStartArray("ca_cert");
                foreach (var root in identity.Trust.Roots)
                {
                    Certificate(w, WorkloadSecrets.RootSecret, root, now);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static void Certificate(Utf8JsonWriter w, string path, X509Certificate2 certificate, DateTimeOffset now)
    {
        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        w.WriteStartObject();
        w.WriteString("path", path);
        w.WriteString("serial_number", certificate.SerialNumber.ToLowerInvariant());
        w.WriteStartArray("subject_alt_names");
        foreach (var (type, value) in SanNames.Read(certificate))
        {
            w.WriteStartObject();
            w.WriteString(type switch { SanType.Uri => "uri", SanType.Dns => "dns", SanType.IpAddress => "ip_address", _ => "email" }, value);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteString("days_until_expiration", Math.Max(0, (int)(notAfter - now).TotalDays).ToString(CultureInfo.InvariantCulture));
        w.WriteString("valid_from", certificate.NotBefore.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
        w.WriteString("expiration_time", notAfter.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
        w.WriteEndObject();
    }
}
