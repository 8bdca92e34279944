using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Skein.Identity;
using Skein.Proxy.Certificates;
using Skein.Proxy.Tests.Infrastructure;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Listener.V3;

namespace Skein.Proxy.Tests.Tls;

/// <summary>
/// A mesh CA for proxy tests (Skein.Identity's, as skein-control runs it) whose clock can be set back to issue
/// already-expired certificates, and workload identities handed to proxies as their SDS <c>default</c>/<c>ROOTCA</c>.
/// </summary>
internal sealed class TestPki : IDisposable
{
    public static readonly SpiffeId Client = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/client");
    public static readonly SpiffeId Server = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/reviews");
    public static readonly SpiffeId Other = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/other");

    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow.AddDays(-2));

    public TestPki() => Ca = CertificateAuthority.CreateSelfSigned("cluster.local", TimeSpan.FromDays(3650), _clock);

    public CertificateAuthority Ca { get; }

    /// <summary>A certificate and key for <paramref name="id"/>, valid from now for <paramref name="lifetime"/> (1 h).</summary>
    public WorkloadIdentity Identity(SpiffeId id, TimeSpan? lifetime = null)
    {
        _clock.SetUtcNow(DateTimeOffset.UtcNow);
        return Issue(id, lifetime ?? TimeSpan.FromHours(1));
    }

    /// <summary>A certificate that expired a day ago (issued two days ago for an hour).</summary>
    public WorkloadIdentity Expired(SpiffeId id)
    {
        // Signed directly (the CA refuses to issue in the past): an hour-long certificate from two days ago.
        var root = Ca.SigningCertificate;
        using var key = WorkloadCertificates.CreateKey();
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest(
            new System.Security.Cryptography.X509Certificates.X500DistinguishedName(""), key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        var san = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
        san.AddUri(id.ToUri());
        request.CertificateExtensions.Add(san.Build(critical: true));
        var notBefore = DateTimeOffset.UtcNow.AddDays(-2);
        using var leaf = request.Create(root, notBefore, notBefore.AddHours(1), [9, 9, 9, 9]);
        return new WorkloadIdentity(WorkloadCertificates.WithKey(leaf.ExportCertificatePem(), key), [], new TrustBundle(Ca.Roots), DateTimeOffset.UtcNow);
    }

    public void Dispose() => Ca.Dispose();

    private WorkloadIdentity Issue(SpiffeId id, TimeSpan lifetime)
    {
        using var key = WorkloadCertificates.CreateKey();
        var issued = Ca.Sign(WorkloadCertificates.CreateSigningRequest(key, id), id, lifetime);
        return new WorkloadIdentity(WorkloadCertificates.WithKey(issued.LeafPem, key), [], new TrustBundle(Ca.Roots), DateTimeOffset.UtcNow);
    }
}

/// <summary>The xDS of the mTLS hop between two sidecars, as skein-control generates it (ISTIO_MUTUAL, SDS secrets).</summary>
internal static class MtlsXds
{
    /// <summary>
    /// <c>virtualInbound</c> for an app on <paramref name="appPort"/>: a TLS chain requiring a client certificate of
    /// the trust domain (STRICT, PERMISSIVE) and a plaintext chain (PERMISSIVE, DISABLE); HTTP or TCP to the app.
    /// </summary>
    public static Listener Inbound(int appPort, string mode, bool http = true, string? allowPrincipal = null)
    {
        var filter = http
            ? Fill("""
              {"name": "envoy.filters.network.http_connection_manager",
               "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                 "stat_prefix": "inbound_0.0.0.0_@0@",
                 "route_config": {"name": "inbound|@1@||", "virtual_hosts": [{"name": "inbound", "domains": ["*"],
                   "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "inbound|@2@||"}}]}]},
                 "http_filters": [@3@ @4@]}}
              """, appPort, appPort, appPort, Rbac(allowPrincipal), XdsConfig.RouterFilter)
            : Fill("""
              {"name": "envoy.filters.network.tcp_proxy",
               "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                 "stat_prefix": "inbound|@0@||", "cluster": "inbound|@1@||"}}
              """, appPort, appPort);
        var alpn = http ? """, "alpn_protocols": ["h2", "http/1.1"]""" : "";
        var chains = new List<string>();
        if (mode is "STRICT" or "PERMISSIVE")
        {
            chains.Add(Fill("""
                {"name": "0.0.0.0_@0@", "filter_chain_match": {"destination_port": @1@, "transport_protocol": "tls"},
                 "filters": [@2@],
                 "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
                   "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                   "require_client_certificate": true,
                   "common_tls_context": {
                     "tls_params": {"tls_minimum_protocol_version": "TLSv1_3"},
                     "tls_certificate_sds_secret_configs": [{"name": "default", "sds_config": {"ads": {}}}],
                     "combined_validation_context": {
                       "default_validation_context": {"match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {"prefix": "spiffe://cluster.local/"}}]},
                       "validation_context_sds_secret_config": {"name": "ROOTCA", "sds_config": {"ads": {}}}}
                     @3@}}}}
                """, appPort, appPort, filter, alpn));
        }

        if (mode is "PERMISSIVE" or "DISABLE")
        {
            var transport = mode == "PERMISSIVE" ? """, "transport_protocol": "raw_buffer" """ : "";
            chains.Add(Fill("""{"name": "0.0.0.0_@0@", "filter_chain_match": {"destination_port": @1@ @2@}, "filters": [@3@]}""", appPort, appPort, transport, filter));
        }

        return XdsConfig.Parse<Listener>(Fill("""
            {"name": "virtualInbound", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 15006}},
             "traffic_direction": "INBOUND",
             "listener_filters": [{"name": "envoy.filters.listener.tls_inspector", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}],
             "filter_chains": [@0@]}
            """, string.Join(",", chains)));
    }

    /// <summary>An outbound cluster to the server sidecar's inbound port with Istio's ISTIO_MUTUAL context.</summary>
    public static Cluster MutualCluster(string name, int port, IEnumerable<string> subjectAltNames, bool http2 = false, string extra = "")
    {
        var sans = string.Join(",", subjectAltNames.Select(s => Fill("""{"san_type": "URI", "matcher": {"exact": "@0@"}}""", s)));
        return XdsConfig.StaticCluster(name, [port], http2, Fill("""
            , "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": "outbound_.9080_._.reviews.default.svc.cluster.local",
                "common_tls_context": {
                  "tls_params": {"tls_minimum_protocol_version": "TLSv1_3"},
                  "tls_certificate_sds_secret_configs": [{"name": "default", "sds_config": {"ads": {}}}],
                  "combined_validation_context": {
                    "default_validation_context": {"match_typed_subject_alt_names": [@0@]},
                    "validation_context_sds_secret_config": {"name": "ROOTCA", "sds_config": {"ads": {}}}}}}}
            @1@
            """, sans, extra));
    }

    private static string Fill(string template, params object[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            template = template.Replace($"@{i}@", Convert.ToString(values[i], System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        }

        return template;
    }

    private static string Rbac(string? principal) => principal is null ? "" : Fill("""
        {"name": "envoy.filters.http.rbac", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
          "rules": {"action": "ALLOW", "policies": {"ns[default]-policy[allow-client]-rule[0]": {
            "permissions": [{"any": true}],
            "principals": [{"authenticated": {"principal_name": {"exact": "@0@"}}}]}}}}},
        """, principal);
}

/// <summary>
/// A TCP relay between two sidecars that keeps what crosses it, to check the wire: TLS records only (no plaintext
/// HTTP) and the version the ServerHello chose.
/// </summary>
internal sealed class WireTap : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<(byte[] FromClient, byte[] FromServer)> _connections = new();
    private readonly Task _accept;

    public WireTap(int target)
    {
        _target = target;
        _listener.Start();
        _accept = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public IReadOnlyCollection<(byte[] FromClient, byte[] FromServer)> Connections => _connections;

    /// <summary>The TLS version the ServerHello's supported_versions extension selected (0x0304 for TLS 1.3), or null.</summary>
    public static int? ServerHelloVersion(byte[] fromServer)
    {
        // record: type(1)=0x16 version(2) length(2); handshake: type(1)=2 length(3) legacy_version(2) random(32) session_id(1+n)
        // cipher(2) compression(1) extensions_length(2) then extensions type(2) length(2) data.
        if (fromServer.Length < 5 || fromServer[0] != 0x16 || fromServer[5] != 2)
        {
            return null;
        }

        var p = 5 + 4 + 2 + 32;
        p += 1 + fromServer[p];
        p += 2 + 1;
        var end = p + 2 + ((fromServer[p] << 8) | fromServer[p + 1]);
        p += 2;
        while (p + 4 <= end && p + 4 <= fromServer.Length)
        {
            var type = (fromServer[p] << 8) | fromServer[p + 1];
            var length = (fromServer[p + 2] << 8) | fromServer[p + 3];
            if (type == 43 && length == 2)
            {
                return (fromServer[p + 4] << 8) | fromServer[p + 5];
            }

            p += 4 + length;
        }

        return 0x0303; // no supported_versions: TLS 1.2
    }

    public static bool ContainsPlaintextHttp(byte[] bytes)
    {
        var text = Encoding.Latin1.GetString(bytes);
        return text.Contains("HTTP/1.1", StringComparison.Ordinal) || text.Contains("GET /", StringComparison.Ordinal)
            || text.Contains("PRI * HTTP/2", StringComparison.Ordinal) || text.Contains("x-backend", StringComparison.OrdinalIgnoreCase);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accept;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient())
        {
            await server.ConnectAsync(IPAddress.Loopback, _target);
            var up = new MemoryStream();
            var down = new MemoryStream();
            var a = CopyAsync(client.GetStream(), server, up);
            var b = CopyAsync(server.GetStream(), client, down);
            await Task.WhenAll(a, b);
            _connections.Enqueue((up.ToArray(), down.ToArray()));
        }
    }

    private async Task CopyAsync(NetworkStream from, TcpClient to, MemoryStream record)
    {
        var buffer = new byte[16384];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer, _stop.Token)) > 0)
            {
                lock (record)
                {
                    record.Write(buffer, 0, n);
                }

                await to.GetStream().WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }

            to.Client.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            to.Close();
        }
    }
}
