using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Skein.Identity;
using Skein.Xds.Istio.Ca;

namespace Skein.ControlPlane.Tests.Security;

/// <summary>skein-control in process on free ports, its logs captured at Trace level, with CA clients over real TLS.</summary>
internal sealed class CaHost : IAsyncDisposable
{
    private CaHost(ControlPlaneHost host, LogCapture logs, string? dataDir)
    {
        Host = host;
        Logs = logs;
        DataDir = dataDir;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.HttpPort}") };
    }

    public ControlPlaneHost Host { get; }

    public LogCapture Logs { get; }

    public string? DataDir { get; }

    public HttpClient Http { get; }

    public static async Task<CaHost> StartAsync(Func<ControlPlaneOptions, ControlPlaneOptions>? configure = null, bool dataDir = true)
    {
        var dir = dataDir ? Path.Combine(Path.GetTempPath(), "skein-ca-tests", Guid.NewGuid().ToString("n")) : null;
        var options = new ControlPlaneOptions
        {
            XdsPort = 0,
            HttpPort = 0,
            SecureXdsPort = 0,
            XdsAddress = "127.0.0.1",
            HttpAddress = "127.0.0.1",
            DataDir = dir,
        };
        options = configure?.Invoke(options) ?? options;
        var logs = new LogCapture();
        var host = ControlPlaneHost.Create(options, logging =>
        {
            logging.SetMinimumLevel(LogLevel.Trace);
            logging.AddProvider(logs);
        });
        await host.StartAsync();
        return new CaHost(host, logs, dir);
    }

    /// <summary>A gRPC channel to the TLS port that trusts the CA's roots, as a proxy given the root out of band does.</summary>
    public GrpcChannel SecureChannel() => GrpcChannel.ForAddress($"https://127.0.0.1:{Host.SecureXdsPort}", new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                    cert is X509Certificate2 c && new TrustBundle(Host.Ca.Authority.Roots).Verify(c, null, out _) is { ServiceAccount: "skein-control" },
            },
        },
    });

    /// <summary>Sends <paramref name="csr"/> with <paramref name="token"/> over TLS; the PEM chain, or the RPC error.</summary>
    public async Task<IReadOnlyList<string>> CreateCertificateAsync(string csr, string? token, long validitySeconds = 0)
    {
        using var channel = SecureChannel();
        var client = new IstioCertificateService.IstioCertificateServiceClient(channel);
        var headers = new Metadata();
        if (token is not null)
        {
            headers.Add("authorization", "Bearer " + token);
        }

        var response = await client.CreateCertificateAsync(new IstioCertificateRequest { Csr = csr, ValidityDuration = validitySeconds }, headers);
        return response.CertChain;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Host.StopAsync();
        await Host.DisposeAsync();
        if (DataDir is not null && Directory.Exists(DataDir))
        {
            Directory.Delete(DataDir, recursive: true);
        }
    }
}

/// <summary>Every log line (message and exception) of a host, for "no secret in any log" checks.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public string All => string.Join("\n", _lines);

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}
