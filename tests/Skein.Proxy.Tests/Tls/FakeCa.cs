using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Skein.Identity;
using Skein.Xds.Istio.Ca;

namespace Skein.Proxy.Tests.Tls;

/// <summary>
/// Istio's certificate service on loopback TLS, as skein-control serves it on 15012 (same Skein.Identity CA, same
/// bootstrap tokens), with a lifetime tests can shorten. Writes the root and one token file per identity.
/// </summary>
internal sealed class FakeCa : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _dir;

    private FakeCa(WebApplication app, CertificateAuthority ca, BootstrapTokens tokens, string dir)
    {
        _app = app;
        Ca = ca;
        Tokens = tokens;
        _dir = dir;
        RootFile = Path.Combine(dir, "root-cert.pem");
        File.WriteAllText(RootFile, ca.RootsPem);
    }

    public CertificateAuthority Ca { get; }

    public BootstrapTokens Tokens { get; }

    public string RootFile { get; }

    public string Address => $"https://127.0.0.1:{new Uri(_app.Urls.First()).Port}";

    public int Issued => _app.Services.GetRequiredService<Counter>().Value;

    public static async Task<FakeCa> StartAsync(TimeSpan lifetime, CertificateAuthority? ca = null)
    {
        ca ??= CertificateAuthority.CreateSelfSigned("cluster.local", TimeSpan.FromDays(30));
        var tokens = new BootstrapTokens(BootstrapTokens.NewKey());
        var (serving, chain) = ca.IssueServing(SpiffeId.Parse("spiffe://cluster.local/ns/istio-system/sa/skein-control"), ["localhost"], [IPAddress.Loopback], TimeSpan.FromHours(1));
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(new Settings(ca, tokens, lifetime));
        builder.Services.AddSingleton<Counter>();
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l =>
        {
            l.Protocols = HttpProtocols.Http2;
            l.UseHttps(new TlsHandshakeCallbackOptions
            {
                OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = SslStreamCertificateContext.Create(serving, chain, offline: true),
                    EnabledSslProtocols = SslProtocols.Tls13,
                    ApplicationProtocols = [SslApplicationProtocol.Http2],
                }),
            });
        }));
        var app = builder.Build();
        app.MapGrpcService<Service>();
        await app.StartAsync();
        var dir = Path.Combine(Path.GetTempPath(), "skein-fakeca-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return new FakeCa(app, ca, tokens, dir);
    }

    /// <summary>A token file (0600) for <paramref name="id"/>, as the local runtime writes one per pod.</summary>
    public string TokenFile(SpiffeId id)
    {
        var path = Path.Combine(_dir, $"{id.ServiceAccount}-{Guid.NewGuid():N}.token");
        File.WriteAllText(path, Tokens.Issue(id, TimeSpan.FromHours(1)));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    /// <summary>Proxy options that get the certificate from this CA with <paramref name="tokenFile"/>.</summary>
    public ProxyOptions Configure(ProxyOptions options, string tokenFile) =>
        options with { CaAddress = Address, CaRootFile = RootFile, TokenFile = tokenFile };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Ca.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private sealed record Settings(CertificateAuthority Ca, BootstrapTokens Tokens, TimeSpan Lifetime);

    private sealed class Counter
    {
        public int Value;
    }

    private sealed class Service(Settings settings, Counter counter) : IstioCertificateService.IstioCertificateServiceBase
    {
        public override Task<IstioCertificateResponse> CreateCertificate(IstioCertificateRequest request, ServerCallContext context)
        {
            var auth = context.RequestHeaders.GetValue("authorization") ?? "";
            if (settings.Tokens.Verify(auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth[7..] : null) is not { } id)
            {
                throw new RpcException(new Status(StatusCode.Unauthenticated, "bad token"));
            }

            IssuedCertificate issued;
            try
            {
                issued = settings.Ca.Sign(request.Csr, id, settings.Lifetime);
            }
            catch (SigningRefusedException e)
            {
                throw new RpcException(new Status(StatusCode.PermissionDenied, e.Message));
            }

            Interlocked.Increment(ref counter.Value);
            var response = new IstioCertificateResponse { CertChain = { issued.LeafPem } };
            response.CertChain.Add(settings.Ca.RootsPem);
            return Task.FromResult(response);
        }
    }
}
