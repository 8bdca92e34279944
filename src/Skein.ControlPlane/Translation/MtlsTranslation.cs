using Skein.Api.Model;
using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Registry;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;
using Skein.Xds.Envoy.Type.Matcher.V3;

namespace Skein.ControlPlane.Translation;

/// <summary>
/// The inbound side of auto mTLS beyond the per-port chains: traffic to ports the workload did not declare
/// (Istio's inbound passthrough) follows the workload's PeerAuthentication too. Istio has no default filter chain on
/// <c>virtualInbound</c> in that case, so a plaintext connection to a STRICT port matches nothing and is closed
/// instead of slipping through a plaintext passthrough.
/// </summary>
internal static class MtlsTranslation
{
    public const string PassthroughChainName = "InboundPassthroughFilterChain";

    /// <summary>
    /// Replaces the listener's default (plaintext) passthrough chain with chains matched on the transport protocol,
    /// as the workload-wide mode says: STRICT a TLS chain only, PERMISSIVE TLS and raw_buffer, DISABLE plaintext.
    /// </summary>
    public static void SecurePassthrough(MeshSnapshot snapshot, ResolvedProxy proxy, Listener listener)
    {
        if (listener.DefaultFilterChain is not { } passthrough)
        {
            return;
        }

        listener.DefaultFilterChain = null;
        var mode = Policies.InboundMtlsMode(snapshot, proxy.Namespace, proxy.Labels, port: 0); // no port: workload-wide
        if (mode is MtlsMode.Strict or MtlsMode.Permissive)
        {
            var tls = passthrough.Clone();
            tls.Name = PassthroughChainName;
            tls.FilterChainMatch = new FilterChainMatch { TransportProtocol = "tls" };
            tls.TransportSocket = new TransportSocket
            {
                Name = FilterNames.TlsTransportSocket,
                TypedConfig = XdsAny.Pack(DownstreamTls(snapshot, PortProtocol.Tcp), TypeUrls.DownstreamTlsContext),
            };
            listener.FilterChains.Add(tls);
        }

        if (mode is MtlsMode.Permissive or MtlsMode.Disable)
        {
            var plain = passthrough.Clone();
            plain.Name = PassthroughChainName;
            plain.FilterChainMatch = mode == MtlsMode.Permissive ? new FilterChainMatch { TransportProtocol = "raw_buffer" } : null;
            listener.FilterChains.Add(plain);
        }
    }

    /// <summary>
    /// Istio's inbound mTLS context: TLS 1.3, the workload certificate (SDS <c>default</c>), a client certificate
    /// required and checked against the trust bundle (SDS <c>ROOTCA</c>) and the trust domain; ALPN h2/http/1.1 on
    /// HTTP ports so the plaintext inside goes to the right HTTP stack.
    /// </summary>
    public static DownstreamTlsContext DownstreamTls(MeshSnapshot snapshot, PortProtocol protocol)
    {
        var common = new CommonTlsContext
        {
            TlsParams = new TlsParameters { TlsMinimumProtocolVersion = TlsParameters.Types.TlsProtocol.Tlsv13 },
            TlsCertificateSdsSecretConfigs = { ClusterGenerator.Sds(WellKnownNames.DefaultSecret) },
            CombinedValidationContext = new CommonTlsContext.Types.CombinedCertificateValidationContext
            {
                DefaultValidationContext = new CertificateValidationContext
                {
                    MatchTypedSubjectAltNames =
                    {
                        new SubjectAltNameMatcher
                        {
                            SanType = SubjectAltNameMatcher.Types.SanType.Uri,
                            Matcher = new StringMatcher { Prefix = $"spiffe://{snapshot.Settings.TrustDomain}/" },
                        },
                    },
                },
                ValidationContextSdsSecretConfig = ClusterGenerator.Sds(WellKnownNames.RootCaSecret),
            },
        };
        if (protocol.IsHttp())
        {
            common.AlpnProtocols.Add("h2");
            common.AlpnProtocols.Add("http/1.1");
        }

        return new DownstreamTlsContext { CommonTlsContext = common, RequireClientCertificate = true };
    }
}
