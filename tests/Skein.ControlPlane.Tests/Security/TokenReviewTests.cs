using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Skein.Identity;

namespace Skein.ControlPlane.Tests.Security;

/// <summary>
/// Kubernetes service-account tokens checked with TokenReview through the real KubernetesClient, against a fake
/// API server on loopback HTTPS that answers recorded TokenReview payloads (testdata/tokenreview-*.json).
/// </summary>
public sealed class TokenReviewTests
{
    private static readonly SpiffeId Reviews = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/reviews");
    private static readonly SpiffeId Ratings = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/ratings");

    // JWT-shaped (three dot-separated parts) like projected service-account tokens; the fake server picks the answer by token.
    private const string ReviewsToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXZpZXdzIn0.c2lnbmF0dXJlLXJldmlld3M";
    private const string RevokedToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXZva2VkIn0.c2lnbmF0dXJlLXJldm9rZWQ";
    private const string UserToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJlLWphbmUtdXNlcg";
    private const string AudienceToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhdWQifQ.c2lnbmF0dXJlLWF1ZGllbmNlcw";

    [Fact]
    public async Task ServiceAccountToken_Authenticated_CertificateForThatServiceAccountOnly()
    {
        await using var api = await FakeApiServer.StartAsync();
        await using var ca = await CaHost.StartAsync(o => o with { Kubeconfig = api.Kubeconfig });
        using var key = WorkloadCertificates.CreateKey();

        var chain = await ca.CreateCertificateAsync(WorkloadCertificates.CreateSigningRequest(key, Reviews), ReviewsToken);
        var denied = await Assert.ThrowsAsync<RpcException>(() => ca.CreateCertificateAsync(WorkloadCertificates.CreateSigningRequest(key, Ratings), ReviewsToken));

        var (leaf, _, _) = WorkloadCertificates.SplitChain(chain);
        Assert.Equal([Reviews.ToString()], SanNames.Uris(leaf));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        var review = api.Reviews.First();
        Assert.Equal("Bearer reviewer-credential", review.Authorization); // the CA authenticates itself to the API server
        Assert.Equal(ReviewsToken, review.Token);
        Assert.Equal(["istio-ca"], review.Audiences);
    }

    [Theory]
    [InlineData(RevokedToken)]
    [InlineData(UserToken)]
    [InlineData(AudienceToken)]
    public async Task Token_NotAServiceAccountOfThisAudience_Unauthenticated(string token)
    {
        await using var api = await FakeApiServer.StartAsync();
        await using var ca = await CaHost.StartAsync(o => o with { Kubeconfig = api.Kubeconfig });
        using var key = WorkloadCertificates.CreateKey();

        var error = await Assert.ThrowsAsync<RpcException>(() => ca.CreateCertificateAsync(WorkloadCertificates.CreateSigningRequest(key, Reviews), token));

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Single(api.Reviews);
        Assert.Empty(ca.Host.Ca.Issued);
        Assert.DoesNotContain(token.Split('.')[2], ca.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApiServerDown_Unauthenticated_FailsClosed()
    {
        var api = await FakeApiServer.StartAsync();
        var kubeconfig = Path.ChangeExtension(api.Kubeconfig, ".down.yaml");
        File.Copy(api.Kubeconfig, kubeconfig);
        await api.DisposeAsync(); // the port is closed now: every review fails
        try
        {
            await using var ca = await CaHost.StartAsync(o => o with { Kubeconfig = kubeconfig });
            using var key = WorkloadCertificates.CreateKey();

            var error = await Assert.ThrowsAsync<RpcException>(() => ca.CreateCertificateAsync(WorkloadCertificates.CreateSigningRequest(key, Reviews), ReviewsToken));

            Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }

    /// <summary>A Kubernetes API server that only knows TokenReview, over HTTPS with its own self-signed certificate.</summary>
    private sealed class FakeApiServer : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private FakeApiServer(WebApplication app, string kubeconfig)
        {
            _app = app;
            Kubeconfig = kubeconfig;
        }

        public string Kubeconfig { get; }

        public ConcurrentQueue<(string? Authorization, string? Token, string[] Audiences)> Reviews { get; } = new();

        public static async Task<FakeApiServer> StartAsync()
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=kube-apiserver", key, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
            using var ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
            var certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);

            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrelHttpsConfiguration();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l =>
            {
                l.Protocols = HttpProtocols.Http1AndHttp2;
                l.UseHttps(certificate);
            }));
            var app = builder.Build();
            FakeApiServer? server = null;
            app.MapPost("/apis/authentication.k8s.io/v1/tokenreviews", async (HttpContext http) =>
            {
                using var body = await JsonDocument.ParseAsync(http.Request.Body);
                var spec = body.RootElement.GetProperty("spec");
                var token = spec.GetProperty("token").GetString();
                var audiences = spec.TryGetProperty("audiences", out var a) ? a.EnumerateArray().Select(x => x.GetString()!).ToArray() : [];
                server!.Reviews.Enqueue((http.Request.Headers.Authorization.ToString(), token, audiences));
                var file = token switch
                {
                    ReviewsToken => "tokenreview-serviceaccount.json",
                    UserToken => "tokenreview-user.json",
                    AudienceToken => "tokenreview-wrong-audience.json",
                    _ => "tokenreview-unauthenticated.json",
                };
                http.Response.StatusCode = 201;
                http.Response.ContentType = "application/json";
                await http.Response.SendFileAsync(Path.Combine(AppContext.BaseDirectory, "Security", "testdata", file));
            });
            await app.StartAsync();
            var port = new Uri(app.Urls.First()).Port;
            var kubeconfig = Path.Combine(Path.GetTempPath(), $"skein-kubeconfig-{Guid.NewGuid():n}.yaml");
            var ca = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(certificate.ExportCertificatePem()));
            await File.WriteAllTextAsync(kubeconfig, $"""
                apiVersion: v1
                kind: Config
                clusters:
                - name: test
                  cluster:
                    server: https://127.0.0.1:{port}
                    certificate-authority-data: {ca}
                users:
                - name: skein-ca
                  user:
                    token: reviewer-credential
                contexts:
                - name: test
                  context:
                    cluster: test
                    user: skein-ca
                current-context: test
                """);
            server = new FakeApiServer(app, kubeconfig);
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            File.Delete(Kubeconfig);
        }
    }
}
