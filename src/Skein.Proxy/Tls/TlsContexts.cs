using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Skein.Proxy.Certificates;
using Skein.Proxy.Runtime;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;

namespace Skein.Proxy.Tls;

/// <summary>A TLS context could not be built (missing secret, unreadable file): the connection fails closed.</summary>
internal sealed class TlsSetupException(string message) : Exception(message);

/// <summary>
/// Turns compiled TLS settings into <see cref="SslStream"/> options at handshake time, resolving certificates and
/// trust: SDS <c>default</c>/<c>ROOTCA</c> come from the proxy's own certificate (<see cref="WorkloadSecrets"/>),
/// other SDS names from the xDS/bootstrap secrets of the current snapshot, files and inline PEM are parsed once and
/// cached (files are re-read when they change). Resolving per handshake is what makes rotation free: nothing holds
/// a certificate longer than one handshake.
/// </summary>
internal sealed class TlsContexts(WorkloadSecrets workload, RuntimeConfigStore store, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, object> _cache = new(StringComparer.Ordinal);

    public WorkloadSecrets Workload => workload;

    /// <summary>Server options for a filter chain that terminates TLS; <paramref name="onPeer"/> gets the verified peer.</summary>
    public SslServerAuthenticationOptions Server(DownstreamTlsSettings settings, Action<string?> onVerification)
    {
        var common = settings.Common;
        var certificate = Certificate(common) ?? throw new TlsSetupException(
            common.CertificateSdsNames.Length > 0
                ? $"SDS secret \"{common.CertificateSdsNames[0]}\" is not available yet (no workload certificate)"
                : "the filter chain's TLS context has no certificate");
        var trust = Trust(common);
        var requireClient = settings.RequireClientCertificate;
        return new SslServerAuthenticationOptions
        {
            ServerCertificateContext = certificate,
            ClientCertificateRequired = requireClient || trust is not null,
            EnabledSslProtocols = Protocols(common),
            ApplicationProtocols = Alpn(common.AlpnProtocols),
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
            RemoteCertificateValidationCallback = (_, cert, chain, _) =>
            {
                string? error = null;
                if (cert is null)
                {
                    error = requireClient ? "client presented no certificate" : null;
                }
                else if (trust is not null)
                {
                    error = PeerVerifier.Verify(cert as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(cert.GetRawCertData()), chain, trust, time.GetUtcNow());
                }

                onVerification(error);
                return error is null;
            },
        };
    }

    /// <summary>Client options for a cluster that originates TLS; <paramref name="onVerification"/> gets why the server was refused.</summary>
    public SslClientAuthenticationOptions Client(UpstreamTlsSettings settings, IReadOnlyList<SslApplicationProtocol>? alpn, Action<string?> onVerification)
    {
        var common = settings.Common;
        SslStreamCertificateContext? certificate = null;
        if (common.CertificateSdsNames.Length > 0 || common.Certificates.Length > 0)
        {
            certificate = Certificate(common) ?? throw new TlsSetupException(
                common.CertificateSdsNames.Length > 0
                    ? $"SDS secret \"{common.CertificateSdsNames[0]}\" is not available yet (no workload certificate)"
                    : "the cluster's client certificate could not be loaded");
        }

        var trust = Trust(common);
        var protocols = common.AlpnProtocols.Length > 0 ? Alpn(common.AlpnProtocols) : alpn?.ToList();
        return new SslClientAuthenticationOptions
        {
            TargetHost = settings.Sni ?? "",
            ClientCertificateContext = certificate,
            EnabledSslProtocols = Protocols(common),
            ApplicationProtocols = protocols,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
            RemoteCertificateValidationCallback = (_, cert, chain, _) =>
            {
                // No validation context (DestinationRule insecureSkipVerify): any server certificate is accepted.
                var error = trust is null ? null : PeerVerifier.Verify(cert as X509Certificate2, chain, trust, time.GetUtcNow());
                onVerification(error);
                return error is null;
            },
        };
    }

    private static List<SslApplicationProtocol>? Alpn(ImmutableArray<string> names) =>
        names.IsDefaultOrEmpty ? null : [.. names.Select(n => new SslApplicationProtocol(n))];

#pragma warning disable CA5398 // versions come from the TLS context; None lets the platform pick (1.2 and 1.3)
    private static SslProtocols Protocols(CommonTlsSettings common)
    {
        var min = common.MinimumProtocol == SslProtocols.None ? SslProtocols.Tls12 : common.MinimumProtocol;
        var max = common.MaximumProtocol == SslProtocols.None ? SslProtocols.Tls13 : common.MaximumProtocol;
        var result = SslProtocols.None;
        if (min <= SslProtocols.Tls12 && max >= SslProtocols.Tls12)
        {
            result |= SslProtocols.Tls12;
        }

        if (max >= SslProtocols.Tls13)
        {
            result |= SslProtocols.Tls13;
        }

        return result == SslProtocols.None ? throw new TlsSetupException("tls_minimum_protocol_version is above tls_maximum_protocol_version") : result;
    }
#pragma warning restore CA5398

    /// <summary>The certificate this side presents, or null when none is configured or available.</summary>
    private SslStreamCertificateContext? Certificate(CommonTlsSettings common)
    {
        foreach (var name in common.CertificateSdsNames)
        {
            if (name == WorkloadSecrets.DefaultSecret && workload.Current is { } own)
            {
                return own.Context;
            }

            if (store.Current.Secrets.GetValueOrDefault(name)?.TlsCertificate is { } secret)
            {
                return Load(Material(secret.CertificateChain), Material(secret.PrivateKey));
            }
        }

        foreach (var (cert, key) in common.Certificates)
        {
            return Load(cert, key);
        }

        return null;
    }

    /// <summary>What the peer is checked against, or null when nothing is configured (no verification).</summary>
    private PeerTrust? Trust(CommonTlsSettings common)
    {
        var validation = common.Validation;
        X509Certificate2Collection? roots = null;
        var intermediates = new X509Certificate2Collection();
        var sans = validation?.SubjectAltNames ?? [];
        if (common.ValidationSdsName is { } sds)
        {
            if (sds == WorkloadSecrets.RootSecret && workload.Current is { } own)
            {
                roots = [.. own.Trust.Roots];
                intermediates.AddRange(own.Intermediates); // peers from the same CA may send only their leaf
            }
            else if (store.Current.Secrets.GetValueOrDefault(sds)?.ValidationContext is { } secret)
            {
                roots = Roots(Material(secret.TrustedCa));
                if (secret.MatchTypedSubjectAltNames.Count > 0 && sans.IsDefaultOrEmpty)
                {
                    sans = [.. secret.MatchTypedSubjectAltNames.Select(m => new SanMatch((SanKind)(int)m.SanType, ProtoValues.String(m.Matcher)))];
                }
            }
            else
            {
                // Fail closed: a validation context that names a secret we do not have trusts nothing.
                roots = [];
            }
        }
        else if (validation?.TrustedCa is { } ca)
        {
            roots = Roots(ca);
        }

        if (roots is null)
        {
            return validation is null ? null : new PeerTrust([], intermediates, sans, validation.CertificateHashes, validation.SpkiHashes);
        }

        return new PeerTrust(roots, intermediates, sans, validation?.CertificateHashes ?? [], validation?.SpkiHashes ?? []);
    }

    private static TlsMaterial Material(Skein.Xds.Envoy.Config.Core.V3.DataSource? source) => source?.SpecifierCase switch
    {
        Skein.Xds.Envoy.Config.Core.V3.DataSource.SpecifierOneofCase.Filename => new TlsMaterial(null, source.Filename, null),
        Skein.Xds.Envoy.Config.Core.V3.DataSource.SpecifierOneofCase.InlineString => new TlsMaterial(source.InlineString, null, null),
        Skein.Xds.Envoy.Config.Core.V3.DataSource.SpecifierOneofCase.InlineBytes => new TlsMaterial(source.InlineBytes.ToStringUtf8(), null, null),
        _ => new TlsMaterial(null, null, null),
    };

    private SslStreamCertificateContext Load(TlsMaterial cert, TlsMaterial key)
    {
        var certPem = Read(cert, "certificate_chain");
        var keyPem = Read(key, "private_key");
        var cacheKey = "cert\n" + Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(certPem + "\n" + keyPem)));
        return (SslStreamCertificateContext)_cache.GetOrAdd(cacheKey, _ =>
        {
            try
            {
                var all = new X509Certificate2Collection();
                all.ImportFromPem(certPem);
                using var leaf = X509Certificate2.CreateFromPem(certPem, keyPem);
                // Linux SslStream needs the key in a PKCS#12-backed certificate.
                var usable = X509CertificateLoader.LoadPkcs12(leaf.Export(X509ContentType.Pkcs12), null);
                var chain = new X509Certificate2Collection();
                for (var i = 1; i < all.Count; i++)
                {
                    chain.Add(all[i]);
                }

                return SslStreamCertificateContext.Create(usable, chain, offline: true);
            }
            catch (CryptographicException e)
            {
                // The message names the source (file name), never the key material.
                throw new TlsSetupException($"cannot load the certificate from {cert} and key from {key}: {e.Message}");
            }
        });
    }

    private X509Certificate2Collection Roots(TlsMaterial material)
    {
        var pem = Read(material, "trusted_ca");
        var cacheKey = "roots\n" + Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(pem)));
        return (X509Certificate2Collection)_cache.GetOrAdd(cacheKey, _ =>
        {
            var roots = new X509Certificate2Collection();
            try
            {
                roots.ImportFromPem(pem);
            }
            catch (CryptographicException e)
            {
                throw new TlsSetupException($"cannot read trusted CA certificates from {material}: {e.Message}");
            }

            return roots;
        });
    }

    private string Read(TlsMaterial material, string field)
    {
        if (material.InlinePem is { } inline)
        {
            return inline;
        }

        if (material.FileName is { } file)
        {
            try
            {
                var stamp = File.GetLastWriteTimeUtc(file).Ticks;
                var key = $"file\n{file}\n{stamp}";
                return (string)_cache.GetOrAdd(key, _ => File.ReadAllText(file));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new TlsSetupException($"{field}: cannot read {file}: {e.Message}");
            }
        }

        throw new TlsSetupException($"{field}: no {field} in the TLS context");
    }
}
