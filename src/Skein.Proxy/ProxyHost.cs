using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Skein.Proxy.Admin;
using Skein.Proxy.Authz;
using Skein.Proxy.Certificates;
using Skein.Proxy.Discovery;
using Skein.Proxy.Listeners;
using Skein.Proxy.LoadBalancing;
using Skein.Proxy.Protocol;
using Skein.Proxy.Resilience;
using Skein.Proxy.Routing;
using Skein.Proxy.Runtime;
using Skein.Proxy.Telemetry;
using Skein.Proxy.Tracing;
using Yarp.ReverseProxy.Forwarder;

namespace Skein.Proxy;

/// <summary>Test and embedding seams: time, chance, the access log sink.</summary>
internal sealed record ProxyHostServices
{
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public IRandomSource Random { get; init; } = SystemRandomSource.Instance;

    public Stream? AccessLogSink { get; init; }

    public Bootstrap? Bootstrap { get; init; }

    /// <summary>How long the span exporter waits to fill a batch (default 1 s).</summary>
    public TimeSpan? TraceExportInterval { get; init; }
}

/// <summary>
/// The proxy process in one object: Kestrel with the capture, admin, stats and health ports, the config
/// store and compiler, the ADS client. Ports given as 0 are bound to free ports; read them after start.
/// </summary>
internal sealed partial class ProxyHost : IAsyncDisposable, IProxyLifetime
{
    private const string DefaultNodeId = "sidecar~127.0.0.1~skein-proxy.default~default.svc.cluster.local";

    private readonly WebApplication _app;
    private readonly Dictionary<ListenerRole, ListenOptions> _listen = [];
    private readonly DrainState _drain = new();
    private readonly AccessLogObserver? _accessLog;
    private readonly MetricsCollector _collector;
    private readonly OtlpExporter? _exporter;
    private readonly BootstrapException? _telemetryError;
    private readonly ILogger _logger;
    private readonly BootstrapException? _certificateError;
    private AdsClient? _ads;
    private Router _router = null!;

    private ProxyHost(ProxyOptions options, ProxyHostServices services)
    {
        Options = options;
        // The empty builder: no configuration files (and no file watchers), no console lifetime; only what the proxy uses.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { EnvironmentName = "Production", Args = [] });
        builder.WebHost.UseKestrelCore();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(options.LogLevel);
        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton<HandoffTransportFactory>();
        builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IConnectionListenerFactory>(sp => sp.GetRequiredService<HandoffTransportFactory>());
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = options.DrainDuration);
        ConnectionDispatcher? dispatcher = null;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.AllowHostHeaderOverride = true;
            // TLS is terminated before Kestrel sees the connection, so h2 over mTLS carries :scheme https on what
            // Kestrel takes for h2c; Envoy's sidecars and direct TLS clients send it, and it must not be a protocol error.
            k.AllowAlternateSchemes = true;
            k.Limits.MaxRequestBodySize = null;
            k.Limits.MinRequestBodyDataRate = null;
            k.Limits.MinResponseDataRate = null;
            k.Limits.Http2.MaxStreamsPerConnection = 1024;
            k.Limits.Http2.InitialConnectionWindowSize = 4 * 1024 * 1024;
            k.Limits.Http2.InitialStreamWindowSize = 1024 * 1024;
            void Capture(ListenerRole role, int port) => k.ListenAnyIP(port, l =>
            {
                l.Protocols = HttpProtocols.Http1;
                l.Use(next => connection => ConnectionDispatcher.Middleware(dispatcher!, role)(next)(connection));
                _listen[role] = l;
            });
            void Local(ListenerRole role, IPAddress address, int port) => k.Listen(address, port, l =>
            {
                l.Protocols = HttpProtocols.Http1;
                l.Use(ConnectionDispatcher.RoleOnly(role));
                _listen[role] = l;
            });
            Capture(ListenerRole.Outbound, options.OutboundPort);
            Capture(ListenerRole.Inbound, options.InboundPort);
            var admin = services.Bootstrap?.AdminAddress;
            Local(ListenerRole.Admin, admin?.Address ?? IPAddress.Loopback, options.AdminPort);
            Local(ListenerRole.Stats, IPAddress.Any, options.StatsPort);
            Local(ListenerRole.Health, IPAddress.Any, options.HealthPort);
            k.Listen(new HandoffEndPoint(ConnectionDispatcher.Http2Endpoint), l => l.Protocols = HttpProtocols.Http2);
        });

        _app = builder.Build();
        var sp = _app.Services;
        var loggers = sp.GetRequiredService<ILoggerFactory>();
        _logger = loggers.CreateLogger<ProxyHost>();
        Time = services.Time;
        var random = services.Random;

        var metrics = new ProxyMetrics();
        Metrics = metrics;
        _collector = new MetricsCollector(metrics.Meter);
        var nodeId = options.NodeId ?? (string.IsNullOrEmpty(services.Bootstrap?.Node?.Id) ? DefaultNodeId : services.Bootstrap!.Node.Id);
        var node = services.Bootstrap?.Node?.Clone() ?? new Skein.Xds.Envoy.Config.Core.V3.Node();
        node.Id = nodeId;
        var controlPlane = options.XdsAddress is not null ? new Uri(options.XdsAddress) : services.Bootstrap?.AdsAddress;
        TelemetrySettings settings;
        try
        {
            settings = TelemetrySettings.From(options, node, controlPlane);
        }
        catch (BootstrapException e)
        {
            _telemetryError = e; // reported by StartAsync, where the process turns it into exit code 3
            settings = new TelemetrySettings();
        }

        settings = settings with { ExportInterval = services.TraceExportInterval ?? settings.ExportInterval };
        var local = LocalWorkload.FromNode(node);
        if (settings.Tracing && settings.Collector is not null)
        {
            _exporter = new OtlpExporter(settings.Collector, local, settings.ExportInterval, Time, loggers.CreateLogger<OtlpExporter>());
        }

        var tracer = settings.Tracing ? new Tracer(settings, local, random, _exporter) : null;
        Telemetry = new ProxyTelemetry(settings, local, new PeerResolver(local), tracer);
        Tap = new TapHub();
        var istio = new IstioMetrics(Telemetry);
        _collector.Add(istio);
        _collector.Add(metrics);
        if (_exporter is not null)
        {
            _collector.Add(_exporter);
        }
        Store = new RuntimeConfigStore();
        Secrets = new WorkloadSecrets { Required = options.CaAddress is not null };
        var tlsContexts = new Tls.TlsContexts(Secrets, Store, Time);
        var clients = new UpstreamClientFactory(tlsContexts);
        var balancers = new LoadBalancerRegistry(random);
        var router = new Router(sp.GetRequiredService<IHttpForwarder>(), random, loggers.CreateLogger<Router>());
        var filters = new HttpFilterRegistry(
        [
            new RouterFilterFactory(router),
            new FaultFilterFactory(random, Time),
            new LocalRateLimitFilterFactory(random, Time),
            new RbacFilterFactory(loggers.CreateLogger<RbacFilterFactory>()),
        ]);
        Compiler = new RuntimeCompiler(filters, balancers, clients, Time);
        Applier = new ConfigApplier(Store, Compiler, metrics, Time, loggers.CreateLogger<ConfigApplier>());
        if (services.Bootstrap is { } bootstrap)
        {
            Applier.SetStatic(bootstrap);
        }

        var observers = new List<IRequestObserver>();
        var connectionObservers = new List<IConnectionObserver>();
        if (settings.Metrics)
        {
            observers.AddRange([istio, metrics]);
            connectionObservers.AddRange([istio, metrics]);
        }

        if (settings.AccessLog || services.AccessLogSink is not null)
        {
            _accessLog = new AccessLogObserver(services.AccessLogSink ?? Console.OpenStandardOutput());
            observers.Add(_accessLog);
        }

        observers.Add(Tap);
        var tap = Tap;
        var logging = _accessLog is not null;
        Telemetry.LabelsWanted = () => logging || tap.HasSubscribers;
        var allObservers = new RequestObservers(observers, connectionObservers, Telemetry, Store);
        var tcp = new TcpProxyHandler(loggers.CreateLogger<TcpProxyHandler>(), Time, allObservers, tlsContexts);
        dispatcher = new ConnectionDispatcher(
            options, Store, tcp, sp.GetRequiredService<HandoffTransportFactory>(), random, _drain, Time, loggers.CreateLogger<ConnectionDispatcher>(), tlsContexts);
        var handler = new HttpRequestHandler(
            Store, new PassthroughRoute(clients, balancers), router, allObservers, random, Time, loggers.CreateLogger<HttpRequestHandler>());
        _router = router;
        var admin = new AdminEndpoints(Store, _collector, this, Tap);
        _app.Run(http =>
        {
            var connection = http.Features.Get<DownstreamConnection>();
            return connection?.Role is ListenerRole.Outbound or ListenerRole.Inbound
                ? handler.HandleAsync(http, connection)
                : admin.HandleAsync(http, connection?.Role ?? ListenerRole.Admin);
        });
        _app.Lifetime.ApplicationStopping.Register(_drain.Drain);
        if (options.XdsAddress is not null || services.Bootstrap?.AdsAddress is not null)
        {
            var address = options.XdsAddress is not null ? new Uri(options.XdsAddress) : services.Bootstrap!.AdsAddress!;
            node.UserAgentName = "skein-proxy";
            _ads = new AdsClient(address, node, Applier, random, Time, loggers.CreateLogger<AdsClient>());
        }

        if (options.CaAddress is not null)
        {
            try
            {
                Certificates = new CertificateManager(
                    new CertificateOptions(new Uri(options.CaAddress), options.CaRootFile!, options.TokenFile!, options.CertificateLifetime, node.Id),
                    Secrets, random, Time, loggers.CreateLogger<CertificateManager>());
            }
            catch (ArgumentException e)
            {
                _certificateError = new BootstrapException(e.Message); // reported by StartAsync (exit code 3)
            }
        }
    }

    /// <summary>The proxy's own certificate and trust bundle (SDS <c>default</c> and <c>ROOTCA</c>).</summary>
    public WorkloadSecrets Secrets { get; }

    /// <summary>Gets and renews the certificate when the proxy runs with <c>--ca-address</c>.</summary>
    public CertificateManager? Certificates { get; }

    /// <summary>Ready needs a certificate when one comes from a CA (mTLS cannot work without it).</summary>
    public bool IdentityReady => Secrets.IsReady;

    /// <summary>The admin <c>/certs</c> answer: the workload certificate and trust bundle, as Envoy lists them.</summary>
    public string CertificatesJson() => CertificateReport.Write(Secrets, Time.GetUtcNow());

    public ProxyOptions Options { get; }

    public TimeProvider Time { get; }

    public RuntimeConfigStore Store { get; }

    public RuntimeCompiler Compiler { get; }

    public ConfigApplier Applier { get; }

    public ProxyMetrics Metrics { get; }

    /// <summary>Metadata exchange, tracing and the resolved labels' caches.</summary>
    public ProxyTelemetry Telemetry { get; }

    /// <summary>The live request stream behind <c>GET /tap</c>.</summary>
    public TapHub Tap { get; }

    /// <summary>The span exporter, when tracing has a collector.</summary>
    public OtlpExporter? SpanExporter => _exporter;

    public AdsClient? Ads => _ads;

    public bool IsDraining => _drain.IsDraining;

    /// <summary>Raised by <c>/quitquitquit</c>; the process exits, an embedding host stops.</summary>
    public event Action? QuitRequested;

    public int OutboundPort => Port(ListenerRole.Outbound);

    public int InboundPort => Port(ListenerRole.Inbound);

    public int AdminPort => Port(ListenerRole.Admin);

    public int StatsPort => Port(ListenerRole.Stats);

    public int HealthPort => Port(ListenerRole.Health);

    public IHostApplicationLifetime Lifetime => _app.Lifetime;

    public static ProxyHost Create(ProxyOptions options, ProxyHostServices? services = null) => new(options, services ?? new ProxyHostServices());

    /// <summary>Binds the ports, applies the static config (when there is no ADS server) and starts the ADS client.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_telemetryError is not null)
        {
            throw _telemetryError;
        }

        if (_certificateError is not null)
        {
            throw _certificateError;
        }

        Certificates?.Start(); // first certificate in parallel with the first config; readiness waits for both
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        _router.OwnPorts = new HashSet<int> { OutboundPort, InboundPort };
        if (_ads is null)
        {
            var result = Applier.Apply(XdsResourceSet.Empty, treatMissingAsEmpty: true);
            if (!result.IsValid)
            {
                throw new BootstrapException("static config is invalid: " + string.Join("; ", result.Errors));
            }
        }
        else
        {
            _ads.Start();
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        _drain.Drain();
        if (_ads is not null)
        {
            await _ads.DisposeAsync().ConfigureAwait(false);
        }

        await _app.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    public void DrainListeners()
    {
        _drain.Drain();
        Log.Draining(_logger);
    }

    public void Quit() => QuitRequested?.Invoke();

    public async ValueTask DisposeAsync()
    {
        if (_ads is not null)
        {
            await _ads.DisposeAsync().ConfigureAwait(false);
        }

        if (Certificates is not null)
        {
            await Certificates.DisposeAsync().ConfigureAwait(false);
        }

        await _app.DisposeAsync().ConfigureAwait(false);
        if (_accessLog is not null)
        {
            await _accessLog.DisposeAsync().ConfigureAwait(false);
        }

        if (_exporter is not null)
        {
            await _exporter.DisposeAsync().ConfigureAwait(false);
        }

        _collector.Dispose();
        Metrics.Dispose();
    }

    private int Port(ListenerRole role) => ((IPEndPoint)_listen[role].EndPoint).Port;

    private static partial class Log
    {
        [LoggerMessage(EventId = 50, Level = LogLevel.Warning, Message = "Draining: the capture ports accept no new connections")]
        public static partial void Draining(ILogger logger);
    }
}
