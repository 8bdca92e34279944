using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Skein.ControlPlane.Api;
using Skein.ControlPlane.ConfigStore;
using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Registry;
using Skein.ControlPlane.Telemetry;
using Skein.ControlPlane.Translation;
using Skein.ControlPlane.Xds;

namespace Skein.ControlPlane;

/// <summary>
/// skein-control assembled: config store (directory + API), instance registry, mesh snapshots, translation
/// cache and ADS server, served by Kestrel on two ports: the xDS port (HTTP/2 only, plain h2c) and the HTTP
/// API port (HTTP/1.1: <c>/api/v1/...</c>, <c>/metrics</c>, <c>/healthz/ready</c>). Tests run it in process on
/// port 0.
/// </summary>
internal sealed partial class ControlPlaneHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ListenOptions _xdsListen;
    private readonly ListenOptions _httpListen;
    private readonly ListenOptions _secureListen;
    private ConfigDirectoryWatcher? _watcher;

    private ControlPlaneHost(WebApplication app, ListenOptions xds, ListenOptions http, ListenOptions secure, ControlPlaneOptions options)
    {
        _app = app;
        _xdsListen = xds;
        _httpListen = http;
        _secureListen = secure;
        Options = options;
    }

    public ControlPlaneOptions Options { get; }

    public IServiceProvider Services => _app.Services;

    public MeshConfigStore Store => _app.Services.GetRequiredService<MeshConfigStore>();

    public InstanceRegistry Registry => _app.Services.GetRequiredService<InstanceRegistry>();

    public MeshState State => _app.Services.GetRequiredService<MeshState>();

    public XdsServer Xds => _app.Services.GetRequiredService<XdsServer>();

    public ConfigDirectoryWatcher? Watcher => _watcher;

    /// <summary>The bound ADS port (after <see cref="StartAsync"/>).</summary>
    public int XdsPort => _xdsListen.IPEndPoint!.Port;

    /// <summary>The bound HTTP API port (after <see cref="StartAsync"/>).</summary>
    public int HttpPort => _httpListen.IPEndPoint!.Port;

    /// <summary>The bound TLS port: ADS and the certificate service (after <see cref="StartAsync"/>).</summary>
    public int SecureXdsPort => _secureListen.IPEndPoint!.Port;

    public Security.MeshCa Ca => _app.Services.GetRequiredService<Security.MeshCa>();

    public static ControlPlaneHost Create(ControlPlaneOptions options, Action<ILoggingBuilder>? logging = null, TimeProvider? time = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        if (logging is null)
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                o.UseUtcTimestamp = true;
            });
            builder.Logging.SetMinimumLevel(LogLevel.Information);
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
            builder.Logging.AddFilter("Grpc", LogLevel.Warning);
        }
        else
        {
            logging(builder.Logging);
        }

        ListenOptions? xds = null;
        ListenOptions? http = null;
        ListenOptions? secure = null;
        var observability = new ObservabilityHosting();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Parse(options.XdsAddress), options.XdsPort, l =>
            {
                l.Protocols = HttpProtocols.Http2;
                xds = l;
            });
            observability.Listen(k, options, xds!);
            k.Listen(IPAddress.Parse(options.HttpAddress), options.HttpPort, l =>
            {
                l.Protocols = HttpProtocols.Http1;
                http = l;
            });
            Security.SecurityHosting.ListenSecure(k, options, l => secure = l);
            k.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(30);
            k.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(20);
            k.Limits.Http2.MaxStreamsPerConnection = 10_000;
        });

        var clock = time ?? TimeProvider.System;
        var data = new DataDirectory(options.DataDir);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(clock);
        builder.Services.AddSingleton(data);
        builder.Services.AddSingleton<MeshConfigStore>();
        builder.Services.AddSingleton<InstanceRegistry>();
        builder.Services.AddSingleton(new VipAllocator(data));
        builder.Services.AddSingleton(new MeshSettings(options.Mtls, options.TrustDomain));
        builder.Services.AddSingleton<MeshState>();
        builder.Services.AddSingleton<TranslationCache>();
        builder.Services.AddSingleton<ControlPlaneMetrics>();
        builder.Services.AddSingleton(new XdsServerOptions
        {
            PushDebounce = options.PushDebounce,
            PushDebounceMax = options.PushDebounceMax,
            DisconnectedRetention = options.DisconnectedRetention,
        });
        builder.Services.AddSingleton<XdsServer>();
        Security.SecurityHosting.AddSecurity(builder.Services, options);
        ObservabilityHosting.AddServices(builder.Services, options, observability);
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = 16 * 1024 * 1024;
            o.MaxSendMessageSize = null;
            o.EnableDetailedErrors = true;
        });

        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        var app = builder.Build();
        app.Lifetime.ApplicationStopping.Register(() => app.Services.GetRequiredService<XdsServer>().Shutdown());
        app.MapGrpcService<AdsService>();
        ConfigApi.Map(app);
        RegistryApi.Map(app);
        ProxyApi.Map(app);
        Security.SecurityHosting.Map(app);
        observability.Map(app, options);
        app.MapGet("/metrics", (ControlPlaneMetrics metrics) => Results.Text(metrics.Render(), "text/plain; version=0.0.4"));
        app.MapGet("/healthz/ready", () => Results.Text("ok\n"));
        return new ControlPlaneHost(app, xds!, http!, secure!, options);
    }

    /// <summary>Loads persisted state and the config directory, builds the first snapshot, and starts serving.</summary>
    public async Task StartAsync(CancellationToken cancellation = default)
    {
        var services = _app.Services;
        var logger = services.GetRequiredService<ILogger<ControlPlaneHost>>();
        var state = State;
        Store.LoadPersisted(0);
        Registry.LoadPersisted();
        _ = services.GetRequiredService<XdsServer>();
        _ = services.GetRequiredService<Security.MeshCa>(); // load or create the CA now: a broken plug-in CA stops the start

        if (Options.ConfigDir is { } dir)
        {
            _watcher = new ConfigDirectoryWatcher(dir, Store, Options.WatchDebounce, services.GetRequiredService<TimeProvider>(),
                services.GetRequiredService<ILogger<ConfigDirectoryWatcher>>());
            var first = _watcher.Start();
            if (!first.Accepted)
            {
                foreach (var d in first.Diagnostics.Take(20))
                {
                    Log.StartupConfigError(logger, d.ToString());
                }
            }
        }

        if (!ReferenceEquals(state.Current.Config, Store.Current) || state.Current.Version == 0)
        {
            state.Rebuild(); // the API layer and instances loaded from the data directory raise no event
        }

        await _app.StartAsync(cancellation);
        var snapshot = state.Current;
        Log.Started(logger, XdsPort, Options.XdsAddress, HttpPort, Options.HttpAddress, Options.ConfigDir ?? "(none)", Options.DataDir ?? "(none)",
            snapshot.Version, snapshot.Config.Resources.Length, snapshot.Services.Length, Options.Mtls);
    }

    public Task StopAsync(CancellationToken cancellation = default) => _app.StopAsync(cancellation);

    /// <summary>Runs until the host is asked to stop (SIGTERM, Ctrl+C), then shuts down gracefully.</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellation = default) => _app.WaitForShutdownAsync(cancellation);

    public async ValueTask DisposeAsync()
    {
        _watcher?.Dispose();
        await _app.DisposeAsync();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information,
            "skein-control started: xds={XdsAddress}:{XdsPort} http={HttpAddress}:{HttpPort} config-dir={ConfigDir} data-dir={DataDir} version={Version} resources={Resources} services={Services} mtls={Mtls}")]
        public static partial void Started(ILogger logger, int xdsPort, string xdsAddress, int httpPort, string httpAddress, string configDir, string dataDir, long version, int resources, int services, bool mtls);

        [LoggerMessage(2, LogLevel.Warning, "config directory refused at startup: {Diagnostic}")]
        public static partial void StartupConfigError(ILogger logger, string diagnostic);
    }
}
