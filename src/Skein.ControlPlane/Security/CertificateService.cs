using Grpc.Core;
using Microsoft.Extensions.Logging;
using Skein.Identity;
using Skein.Xds.Istio.Ca;

namespace Skein.ControlPlane.Security;

/// <summary>
/// Istio's <c>IstioCertificateService.CreateCertificate</c>: the caller's bearer token (metadata
/// <c>authorization</c>) proves an identity, and the CSR is signed for exactly that identity. Served only on the
/// TLS port: the token must never cross the network in clear. Answers the leaf, any intermediates, then the root
/// bundle (every root, so a combined bundle reaches proxies during a root rotation).
/// </summary>
internal sealed partial class CertificateService(MeshCa ca, IEnumerable<ITokenAuthenticator> authenticators, ILogger<CertificateService> logger)
    : IstioCertificateService.IstioCertificateServiceBase
{
    /// <summary>Request metadata key a proxy may set to its xDS node id (reported in <c>/api/v1/proxies</c>).</summary>
    public const string NodeIdKey = "NODE_ID";

    public override async Task<IstioCertificateResponse> CreateCertificate(IstioCertificateRequest request, ServerCallContext context)
    {
        var http = context.GetHttpContext();
        if (!http.Request.IsHttps)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "the certificate service answers only on the TLS port (15012)"));
        }

        var token = BearerToken(context.RequestHeaders);
        if (token is null)
        {
            Log.Refused(logger, http.Connection.RemoteIpAddress?.ToString() ?? "-", "no bearer token");
            throw new RpcException(new Status(StatusCode.Unauthenticated, "a bearer token in the authorization metadata is required"));
        }

        SpiffeId? identity = null;
        foreach (var authenticator in authenticators)
        {
            identity = await authenticator.AuthenticateAsync(token, context.CancellationToken).ConfigureAwait(false);
            if (identity is not null)
            {
                break;
            }
        }

        if (identity is not { } id)
        {
            Log.Refused(logger, http.Connection.RemoteIpAddress?.ToString() ?? "-", "token not valid");
            throw new RpcException(new Status(StatusCode.Unauthenticated, "the token is not valid (forged, expired, or not for this CA)"));
        }

        var nodeId = request.Metadata?.Fields.TryGetValue(NodeIdKey, out var v) == true && v.StringValue is { Length: > 0 and < 512 } s ? s : null;
        IssuedCertificate issued;
        try
        {
            issued = ca.Sign(request.Csr, id, request.ValidityDuration > 0 ? TimeSpan.FromSeconds(request.ValidityDuration) : null, nodeId);
        }
        catch (SigningRefusedException e)
        {
            Log.Refused(logger, http.Connection.RemoteIpAddress?.ToString() ?? "-", $"{id}: {e.Message}");
            throw new RpcException(new Status(StatusCode.PermissionDenied, e.Message));
        }

        var response = new IstioCertificateResponse();
        response.CertChain.Add(issued.LeafPem);
        if (issued.ChainPem.Length > 0)
        {
            response.CertChain.Add(issued.ChainPem);
        }

        foreach (var root in ca.Authority.Roots)
        {
            response.CertChain.Add(root.ExportCertificatePem() + "\n");
        }

        return response;
    }

    private static string? BearerToken(Metadata headers)
    {
        var value = headers.GetValue("authorization");
        const string Prefix = "Bearer ";
        return value is not null && value.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) && value.Length > Prefix.Length
            ? value[Prefix.Length..].Trim()
            : null;
    }

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Warning, "certificate request from {Peer} refused: {Reason}")]
        public static partial void Refused(ILogger logger, string peer, string reason);
    }
}
