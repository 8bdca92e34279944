using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Skein.ControlPlane.Api;
using Skein.Identity;

namespace Skein.ControlPlane.Security;

/// <summary>
/// How the CA plugs into skein-control: services, the TLS port (ADS + certificate service, Istio's 15012) and
/// the HTTP API.
/// <list type="bullet">
///   <item><c>GET /api/v1/ca</c>: trust domain, source, roots (PEM, validity, SHA-256 fingerprint), the earliest
///         expiry of the CA, workload certificate lifetime, the control plane's identity.</item>
///   <item><c>POST /api/v1/ca/tokens</c> <c>{"namespace", "serviceAccount", "ttl"}</c>: a bootstrap token for that
///         identity (what <c>skein up</c> hands each pod) and the root bundle. The API port is loopback-only.</item>
///   <item><c>GET /api/v1/ca/certificates</c>: the latest certificate issued per proxy (identity, serial, validity).</item>
/// </list>
/// </summary>
internal static class SecurityHosting
{
    /// <summary>Lifetime of bootstrap tokens when the request does not say: long enough for a local mesh's life.</summary>
    public static readonly TimeSpan DefaultTokenTtl = TimeSpan.FromDays(365);

    public static void AddSecurity(IServiceCollection services, ControlPlaneOptions options)
    {
        services.AddSingleton(sp => MeshCa.Create(options, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("Skein.ControlPlane.Security.MeshCa")));
        services.AddSingleton<ITokenAuthenticator>(sp => new BootstrapTokenAuthenticator(sp.GetRequiredService<MeshCa>()));
        if (KubernetesTokenAuthenticator.CreateClient(options.Kubeconfig) is { } kube)
        {
            services.AddSingleton<ITokenAuthenticator>(sp => new KubernetesTokenAuthenticator(
                kube, options.TrustDomain, options.TokenAudience, sp.GetRequiredService<ILogger<KubernetesTokenAuthenticator>>()));
        }
    }

    /// <summary>The TLS port: HTTP/2 only, TLS 1.2+ (1.3 preferred), the serving certificate the CA issues itself.</summary>
    public static void ListenSecure(KestrelServerOptions kestrel, ControlPlaneOptions options, Action<ListenOptions> configured)
    {
        kestrel.Listen(IPAddress.Parse(options.XdsAddress), options.SecureXdsPort, l =>
        {
            l.Protocols = HttpProtocols.Http2;
            l.UseHttps(new TlsHandshakeCallbackOptions
            {
                OnConnection = context =>
                {
                    var ca = kestrel.ApplicationServices.GetRequiredService<MeshCa>();
                    var certificate = ca.ServingCertificate();
                    return ValueTask.FromResult(new SslServerAuthenticationOptions
                    {
                        ServerCertificateContext = SslStreamCertificateContext.Create(certificate, ca.ServingChain, offline: true),
                        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                        ApplicationProtocols = [SslApplicationProtocol.Http2],
                        ClientCertificateRequired = false,
                    });
                },
            });
            configured(l);
        });
    }

    public static void Map(WebApplication app)
    {
        app.MapGrpcService<CertificateService>();
        app.MapGet("/api/v1/ca", (MeshCa ca, TimeProvider time) => ApiJson.Write(StatusCodes.Status200OK, w => WriteCa(w, ca, time.GetUtcNow())));
        app.MapPost("/api/v1/ca/tokens", async (HttpRequest request, MeshCa ca) =>
        {
            var body = await ApiJson.ReadBodyAsync(request);
            if (body is null)
            {
                return ApiJson.Error(StatusCodes.Status413PayloadTooLarge, "body too large");
            }

            string? ns;
            string? sa;
            TimeSpan ttl = DefaultTokenTtl;
            try
            {
                using var doc = JsonDocument.Parse(body);
                ns = doc.RootElement.TryGetProperty("namespace", out var n) ? n.GetString() : null;
                sa = doc.RootElement.TryGetProperty("serviceAccount", out var s) ? s.GetString() : null;
                if (doc.RootElement.TryGetProperty("ttl", out var t))
                {
                    if (!Skein.Api.Model.Duration.TryParse(t.GetString() ?? "", out var d) || d.Value <= TimeSpan.Zero)
                    {
                        return ApiJson.Error(StatusCodes.Status400BadRequest, "ttl: must be a duration such as 24h");
                    }

                    ttl = d.Value;
                }
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                return ApiJson.Error(StatusCodes.Status400BadRequest, "expected {\"namespace\": ..., \"serviceAccount\": ...}");
            }

            if (!SpiffeId.TryParse($"{SpiffeId.Scheme}{ca.TrustDomain}/ns/{ns}/sa/{sa}", out var id))
            {
                return ApiJson.Error(StatusCodes.Status400BadRequest, "namespace and serviceAccount: required, letters, digits, '-', '.', '_'");
            }

            var token = ca.Tokens.Issue(id, ttl);
            return ApiJson.Write(StatusCodes.Status200OK, w =>
            {
                w.WriteStartObject();
                w.WriteString("identity", id.ToString());
                w.WriteString("token", token);
                w.WriteString("rootCertPem", ca.Authority.RootsPem);
                w.WriteEndObject();
            });
        });
        app.MapGet("/api/v1/ca/certificates", (MeshCa ca) => ApiJson.Write(StatusCodes.Status200OK, w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("certificates");
            foreach (var record in ca.Issued.OrderBy(r => r.NodeId ?? r.Identity, StringComparer.Ordinal))
            {
                WriteIssued(w, record);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }));
    }

    /// <summary>A proxy's certificate as <c>{identity, serial, notBefore, notAfter}</c>, for <c>/api/v1/proxies</c>.</summary>
    public static void WriteIssued(Utf8JsonWriter w, IssuedRecord record, string? name = null)
    {
        if (name is null)
        {
            w.WriteStartObject();
        }
        else
        {
            w.WriteStartObject(name);
        }

        w.WriteString("identity", record.Identity);
        if (record.NodeId is not null)
        {
            w.WriteString("nodeId", record.NodeId);
        }

        w.WriteString("serial", record.Serial);
        w.WriteString("notBefore", record.NotBefore.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        w.WriteString("notAfter", record.NotAfter.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        w.WriteString("issuedAt", record.IssuedAt.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        w.WriteEndObject();
    }

    private static void WriteCa(Utf8JsonWriter w, MeshCa ca, DateTimeOffset now)
    {
        static string Time(DateTime t) => new DateTimeOffset(t.ToUniversalTime(), TimeSpan.Zero).ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        w.WriteStartObject();
        w.WriteString("trustDomain", ca.TrustDomain);
        w.WriteString("source", ca.Source);
        w.WriteString("controlPlaneIdentity", ca.ControlPlaneIdentity.ToString());
        w.WriteString("notAfter", ca.Authority.NotAfter.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        w.WriteNumber("secondsRemaining", Math.Max(0, (long)(ca.Authority.NotAfter - now).TotalSeconds));
        w.WriteNumber("workloadCertTtlSeconds", (long)ca.DefaultTtl.TotalSeconds);
        w.WriteStartObject("signer");
        var signer = ca.Authority.SigningCertificate;
        w.WriteString("subject", signer.Subject);
        w.WriteString("notBefore", Time(signer.NotBefore));
        w.WriteString("notAfter", Time(signer.NotAfter));
        w.WriteEndObject();
        w.WriteStartArray("roots");
        foreach (var root in ca.Authority.Roots)
        {
            w.WriteStartObject();
            w.WriteString("subject", root.Subject);
            w.WriteString("notBefore", Time(root.NotBefore));
            w.WriteString("notAfter", Time(root.NotAfter));
            w.WriteString("sha256", Convert.ToHexString(SHA256.HashData(root.RawData)).ToLowerInvariant());
            w.WriteString("pem", root.ExportCertificatePem() + "\n");
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }
}
