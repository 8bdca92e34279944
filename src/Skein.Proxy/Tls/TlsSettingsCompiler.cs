using System.Collections.Immutable;
using System.Security.Authentication;
using Skein.Proxy.Runtime;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;

namespace Skein.Proxy.Tls;

/// <summary>Compiles Envoy TLS contexts into <see cref="CommonTlsSettings"/> (kept for when TLS is wired).</summary>
internal static class TlsSettingsCompiler
{
    public static CommonTlsSettings Common(CommonTlsContext? ctx)
    {
        ctx ??= new CommonTlsContext();
        var certs = ImmutableArray.CreateBuilder<(TlsMaterial, TlsMaterial)>();
        foreach (var c in ctx.TlsCertificates)
        {
            certs.Add((Material(c.CertificateChain), Material(c.PrivateKey)));
        }

        var sdsNames = ImmutableArray.CreateBuilder<string>();
        foreach (var s in ctx.TlsCertificateSdsSecretConfigs)
        {
            sdsNames.Add(s.Name);
        }

        TlsValidation? validation = null;
        string? validationSds = null;
        switch (ctx.ValidationContextTypeCase)
        {
            case CommonTlsContext.ValidationContextTypeOneofCase.ValidationContext:
                validation = Validation(ctx.ValidationContext);
                break;
            case CommonTlsContext.ValidationContextTypeOneofCase.ValidationContextSdsSecretConfig:
                validationSds = ctx.ValidationContextSdsSecretConfig.Name;
                break;
            case CommonTlsContext.ValidationContextTypeOneofCase.CombinedValidationContext:
                validation = Validation(ctx.CombinedValidationContext.DefaultValidationContext);
                validationSds = ctx.CombinedValidationContext.ValidationContextSdsSecretConfig?.Name;
                break;
        }

        return new CommonTlsSettings(
            Protocol(ctx.TlsParams?.TlsMinimumProtocolVersion, SslProtocols.None),
            Protocol(ctx.TlsParams?.TlsMaximumProtocolVersion, SslProtocols.None),
            [.. ctx.TlsParams?.CipherSuites ?? []],
            certs.ToImmutable(),
            sdsNames.ToImmutable(),
            validation,
            validationSds,
            [.. ctx.AlpnProtocols]);
    }

    private static TlsValidation? Validation(CertificateValidationContext? v)
    {
        if (v is null)
        {
            return null;
        }

        var sans = ImmutableArray.CreateBuilder<SanMatch>();
        foreach (var m in v.MatchTypedSubjectAltNames)
        {
            sans.Add(new SanMatch((SanKind)(int)m.SanType, ProtoValues.String(m.Matcher)));
        }

        return new TlsValidation(
            v.TrustedCa is null ? null : Material(v.TrustedCa),
            sans.ToImmutable(),
            [.. v.VerifyCertificateHash],
            [.. v.VerifyCertificateSpki]);
    }

    private static TlsMaterial Material(DataSource? source) => source?.SpecifierCase switch
    {
        DataSource.SpecifierOneofCase.Filename => new TlsMaterial(null, source.Filename, null),
        DataSource.SpecifierOneofCase.InlineString => new TlsMaterial(source.InlineString, null, null),
        DataSource.SpecifierOneofCase.InlineBytes => new TlsMaterial(source.InlineBytes.ToStringUtf8(), null, null),
        _ => new TlsMaterial(null, null, null),
    };

#pragma warning disable CA5397 // explicit TLS versions come from config; None stays the default
    private static SslProtocols Protocol(TlsParameters.Types.TlsProtocol? p, SslProtocols auto) => p switch
    {
        TlsParameters.Types.TlsProtocol.Tlsv12 => SslProtocols.Tls12,
        TlsParameters.Types.TlsProtocol.Tlsv13 => SslProtocols.Tls13,
        TlsParameters.Types.TlsProtocol.Tlsv10 or TlsParameters.Types.TlsProtocol.Tlsv11 =>
            throw new ConfigException("TLS versions below 1.2 are not supported"),
        _ => auto,
    };
#pragma warning restore CA5397
}
