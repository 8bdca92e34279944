using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Skein.Identity;

namespace Skein.ControlPlane.Security;

/// <summary>Turns the bearer token of a certificate request into the identity it proves, or null.</summary>
internal interface ITokenAuthenticator
{
    /// <summary>Null when this authenticator does not vouch for the token (forged, expired, unknown).</summary>
    Task<SpiffeId?> AuthenticateAsync(string token, CancellationToken cancellation);
}

/// <summary>Bootstrap tokens that <c>skein up</c> hands to pods (HMAC-signed by this control plane).</summary>
internal sealed class BootstrapTokenAuthenticator(MeshCa ca) : ITokenAuthenticator
{
    public Task<SpiffeId?> AuthenticateAsync(string token, CancellationToken cancellation) =>
        Task.FromResult(ca.Tokens.Verify(token) is { } id && id.TrustDomain == ca.TrustDomain ? id : (SpiffeId?)null);
}

/// <summary>
/// Kubernetes service-account tokens, checked by the API server with a TokenReview (as istiod does): the
/// token must be authenticated, carry the CA's audience, and name a service account
/// (<c>system:serviceaccount:NS:SA</c>), which becomes <c>spiffe://TD/ns/NS/sa/SA</c>.
/// </summary>
internal sealed partial class KubernetesTokenAuthenticator(IKubernetes client, string trustDomain, string audience, ILogger logger) : ITokenAuthenticator
{
    private const string ServiceAccountPrefix = "system:serviceaccount:";

    public async Task<SpiffeId?> AuthenticateAsync(string token, CancellationToken cancellation)
    {
        if (!LooksLikeJwt(token))
        {
            return null;
        }

        var review = new V1TokenReview
        {
            ApiVersion = "authentication.k8s.io/v1",
            Kind = "TokenReview",
            Spec = new V1TokenReviewSpec { Token = token, Audiences = [audience] },
        };
        V1TokenReview answer;
        try
        {
            answer = await client.AuthenticationV1.CreateTokenReviewAsync(review, cancellationToken: cancellation).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
        {
            // The message of an HttpOperationException may quote the request; log the type and status only.
            Log.ReviewFailed(logger, e.GetType().Name, (e as HttpOperationException)?.Response?.StatusCode.ToString() ?? "-");
            return null;
        }

        var status = answer.Status;
        if (status is not { Authenticated: true } || status.User?.Username is not { } user)
        {
            Log.Rejected(logger, status?.Error ?? "not authenticated");
            return null;
        }

        if (status.Audiences is { Count: > 0 } audiences && !audiences.Contains(audience))
        {
            Log.Rejected(logger, $"token audiences do not include {audience}");
            return null;
        }

        if (!user.StartsWith(ServiceAccountPrefix, StringComparison.Ordinal))
        {
            Log.Rejected(logger, $"{user} is not a service account");
            return null;
        }

        var parts = user[ServiceAccountPrefix.Length..].Split(':');
        if (parts.Length != 2 || !SpiffeId.TryParse($"{SpiffeId.Scheme}{trustDomain}/ns/{parts[0]}/sa/{parts[1]}", out var id))
        {
            Log.Rejected(logger, $"{user} is not a service account name");
            return null;
        }

        return id;
    }

    /// <summary>Kubernetes client for <paramref name="kubeconfig"/>, or the in-cluster config inside a pod.</summary>
    public static IKubernetes? CreateClient(string? kubeconfig)
    {
        if (kubeconfig is not null)
        {
            return new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
        }

        return KubernetesClientConfiguration.IsInCluster() ? new Kubernetes(KubernetesClientConfiguration.InClusterConfig()) : null;
    }

    private static bool LooksLikeJwt(string token) => token.Count(c => c == '.') == 2 && token.Length > 20;

    private static partial class Log
    {
        [LoggerMessage(30, LogLevel.Warning, "TokenReview failed: {Error} (status {Status})")]
        public static partial void ReviewFailed(ILogger logger, string error, string status);

        [LoggerMessage(31, LogLevel.Information, "service-account token refused: {Reason}")]
        public static partial void Rejected(ILogger logger, string reason);
    }
}
