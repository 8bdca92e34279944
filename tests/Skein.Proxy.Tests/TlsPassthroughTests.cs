using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests;

/// <summary>TLS the proxy does not terminate: the ClientHello's SNI picks the filter chain, bytes pass through untouched.</summary>
public sealed class TlsPassthroughTests
{
    [Fact]
    public async Task TlsClientHello_SniSelectsFilterChain_PassedThroughToThatBackend()
    {
        await using var a = await StartTlsBackendAsync("a.example");
        await using var b = await StartTlsBackendAsync("b.example");
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, AppPort = 8443, DetectionTimeout = TimeSpan.FromSeconds(2) });
        var listener = XdsConfig.Parse<Skein.Xds.Envoy.Config.Listener.V3.Listener>("""
            {"name": "virtualInbound", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 15006}},
             "listener_filters": [{"name": "envoy.filters.listener.tls_inspector", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}],
             "filter_chains": [
               {"name": "a", "filter_chain_match": {"destination_port": 8443, "transport_protocol": "tls", "server_names": ["a.example"]},
                "filters": [{"name": "tcp", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "stat_prefix": "a", "cluster": "a"}}]},
               {"name": "b", "filter_chain_match": {"destination_port": 8443, "transport_protocol": "tls", "server_names": ["*.example"]},
                "filters": [{"name": "tcp", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "stat_prefix": "b", "cluster": "b"}}]}]}
            """);
        proxy.Apply([listener], clusters: [XdsConfig.StaticCluster("a", [a.PortOf()]), XdsConfig.StaticCluster("b", [b.PortOf()])]);

        Assert.Equal("a.example", await GetOverTlsAsync(proxy.InboundPort, "a.example"));
        Assert.Equal("b.example", await GetOverTlsAsync(proxy.InboundPort, "other.example")); // wildcard chain
    }

    private static async Task<string> GetOverTlsAsync(int port, string sni)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: false), false, (_, cert, _, _) => cert?.Subject == "CN=" + sni || sni == "other.example");
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = sni,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
        });
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n"));
        using var reader = new StreamReader(tls);
        var response = await reader.ReadToEndAsync();
        return response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
    }

    private static async Task<WebApplication> StartTlsBackendAsync(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        using var ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        var cert = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l =>
        {
            l.Protocols = HttpProtocols.Http1;
            l.UseHttps(cert);
        }));
        var app = builder.Build();
        app.Run(ctx =>
        {
            ctx.Response.ContentLength = name.Length;
            return ctx.Response.WriteAsync(name);
        });
        await app.StartAsync();
        return app;
    }
}

internal static class WebApplicationPort
{
    public static int PortOf(this WebApplication app) => new Uri(app.Urls.First()).Port;
}
