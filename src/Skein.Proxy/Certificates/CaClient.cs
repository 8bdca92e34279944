using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Skein.Identity;
using Skein.Xds.Istio.Ca;

namespace Skein.Proxy.Certificates;

/// <summary>Why the CA did not answer with a certificate; the message carries no token.</summary>
internal sealed class CertificateRequestException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Istio's certificate service client: TLS to the CA, whose certificate must chain to the root given out of band
/// (<c>--ca-root</c>) and name the control plane's identity (<c>.../ns/istio-system/sa/skein-control</c>); the
/// token goes in the <c>authorization</c> metadata, read from its file on every request (projected tokens rotate).
/// </summary>
internal sealed class CaClient : IDisposable
{
    private const string ControlPlanePath = "/ns/istio-system/sa/skein-control";
    private readonly GrpcChannel _channel;
    private readonly IstioCertificateService.IstioCertificateServiceClient _client;
    private readonly string _tokenFile;
    private readonly string? _nodeId;

    public CaClient(Uri address, X509Certificate2Collection caRoots, string tokenFile, string? nodeId)
    {
        if (address.Scheme != Uri.UriSchemeHttps)
        {
            throw new ArgumentException("--ca-address: must be https:// (the token must not travel in clear)");
        }

        _tokenFile = tokenFile;
        _nodeId = nodeId;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = (_, certificate, chain, _) => IsControlPlane(certificate, chain, caRoots),
            },
        };
        _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        _client = new IstioCertificateService.IstioCertificateServiceClient(_channel);
    }

    /// <summary>Sends the CSR; answers the PEM certificates (leaf first, roots last).</summary>
    public async Task<IReadOnlyList<string>> CreateCertificateAsync(string csrPem, TimeSpan? lifetime, CancellationToken cancellation)
    {
        string token;
        try
        {
            token = (await File.ReadAllTextAsync(_tokenFile, cancellation).ConfigureAwait(false)).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CertificateRequestException($"cannot read the token file {_tokenFile}: {e.Message}");
        }

        var request = new IstioCertificateRequest { Csr = csrPem, ValidityDuration = (long)(lifetime?.TotalSeconds ?? 0) };
        if (_nodeId is not null)
        {
            request.Metadata = new Struct { Fields = { ["NODE_ID"] = Value.ForString(_nodeId) } };
        }

        try
        {
            var response = await _client.CreateCertificateAsync(
                request,
                new Metadata { { "authorization", "Bearer " + token } },
                deadline: DateTime.UtcNow.AddSeconds(30),
                cancellationToken: cancellation).ConfigureAwait(false);
            return response.CertChain;
        }
        catch (RpcException e)
        {
            // Status.Detail is the CA's own message; DebugException may hold transport details, never the token.
            throw new CertificateRequestException($"{e.StatusCode}: {e.Status.Detail}", e.Status.DebugException);
        }
    }

    public void Dispose() => _channel.Dispose();

    private static bool IsControlPlane(X509Certificate? presented, X509Chain? sent, X509Certificate2Collection roots)
    {
        if (presented is not X509Certificate2 leaf)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        if (sent is not null)
        {
            foreach (var element in sent.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        if (!chain.Build(leaf))
        {
            return false;
        }

        foreach (var uri in SanNames.Uris(leaf))
        {
            if (uri.StartsWith(SpiffeId.Scheme, StringComparison.Ordinal) && uri.EndsWith(ControlPlanePath, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
