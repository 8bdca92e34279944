using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Skein.ControlPlane.Dashboard;
using Skein.ControlPlane.Tracing;
using Skein.ControlPlane.Translation;
using Skein.ControlPlane.Xds;

namespace Skein.ControlPlane.Telemetry;

/// <summary>
/// Wires telemetry, tracing and the dashboard into skein-control: the services, two more listeners (the dashboard,
/// loopback by default; the OTLP receiver, on the ADS address that proxies reach), and a filter that keeps each
/// listener to its purpose: the dashboard port serves only the dashboard and read-only API calls, the OTLP port only
/// <c>POST /v1/traces</c>, and the ADS port (reachable from every pod) never the HTTP API, which can change config.
/// </summary>
internal sealed class ObservabilityHosting
{
    private static readonly string[] DashboardReads =
    [
        "/api/v1/telemetry/", "/api/v1/traces", "/api/v1/proxies", "/api/v1/config/status", "/healthz/ready",
    ];

    private ListenOptions? _dashboard;
    private ListenOptions? _otlp;
    private ListenOptions? _xds;

    public int? DashboardPort => _dashboard?.IPEndPoint?.Port;

    public int? OtlpPort => _otlp?.IPEndPoint?.Port;

    /// <summary>Adds the dashboard and OTLP listeners the options ask for; <paramref name="xds"/> is the ADS listener.</summary>
    public void Listen(KestrelServerOptions kestrel, ControlPlaneOptions options, ListenOptions xds)
    {
        _xds = xds;
        if (options.DashboardPort is { } dashboard)
        {
            kestrel.Listen(IPAddress.Parse(options.DashboardAddress), dashboard, l =>
            {
                l.Protocols = HttpProtocols.Http1;
                _dashboard = l;
            });
        }

        if (options.OtlpPort is { } otlp)
        {
            kestrel.Listen(IPAddress.Parse(options.OtlpAddress ?? options.XdsAddress), otlp, l =>
            {
                l.Protocols = HttpProtocols.Http1;
                _otlp = l;
            });
        }
    }

    public static void AddServices(IServiceCollection services, ControlPlaneOptions options, ObservabilityHosting hosting)
    {
        services.AddSingleton(hosting);
        services.AddSingleton(new TraceStore(options.MaxTraces));
        var window = new TelemetryWindow(options.TelemetryRetention);
        services.AddSingleton(window);
        var settings = new TelemetrySettings(options.ScrapeInterval ?? TimeSpan.Zero, options.TelemetryRetention);
        services.AddSingleton(settings);
        services.AddSingleton<ITelemetryReader>(sp => options.PrometheusUrl is { } url
            ? new PrometheusReader(url, sp.GetRequiredService<TimeProvider>())
            : new EmbeddedTelemetryReader(window, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp =>
        {
            var server = sp.GetRequiredService<XdsServer>();
            return new TelemetryService(sp.GetRequiredService<ITelemetryReader>(), () => Inventory(server), settings);
        });
        if (options.PrometheusUrl is null && options.ScrapeInterval is { } interval)
        {
            services.AddSingleton(sp =>
            {
                var server = sp.GetRequiredService<XdsServer>();
                return new ProxyScraper(() => Targets(server), window, interval, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ProxyScraper>>());
            });
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<ProxyScraper>());
        }
    }

    public void Map(WebApplication app, ControlPlaneOptions options)
    {
        app.Use(async (context, next) =>
        {
            if (Refuse(context))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            await next(context);
        });
        TelemetryApi.Map(app);
        TracingApi.Map(app);
        DashboardEndpoints.Map(app);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var settings = app.Services.GetRequiredService<TelemetrySettings>();
            if (DashboardPort is { } d)
            {
                settings.DashboardUrl = $"http://{UrlHost(options.DashboardAddress)}:{d}/";
            }

            if (OtlpPort is { } o)
            {
                settings.OtlpUrl = $"http://{UrlHost(options.OtlpAddress ?? options.XdsAddress)}:{o}/v1/traces";
            }
        });
    }

    /// <summary>Requests a listener does not serve: anything but reads on the dashboard, anything but OTLP on its port, the API on ADS.</summary>
    private bool Refuse(HttpContext context)
    {
        var port = context.Connection.LocalPort;
        var path = context.Request.Path.Value ?? "/";
        if (_dashboard?.IPEndPoint?.Port == port)
        {
            var read = HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method);
            var page = path is "/" or "/index.html" || DashboardEndpoints.Paths.Contains(path.TrimStart('/'));
            return !read || !(page || DashboardReads.Any(p => path.StartsWith(p, StringComparison.Ordinal)));
        }

        if (_otlp?.IPEndPoint?.Port == port)
        {
            return path != "/v1/traces";
        }

        return _xds?.IPEndPoint?.Port == port && path.StartsWith("/api/", StringComparison.Ordinal);
    }

    private static string UrlHost(string address) => address switch
    {
        "0.0.0.0" => "127.0.0.1",
        "::" => "[::1]",
        _ => IPAddress.Parse(address).AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address,
    };

    /// <summary>Every connected sidecar's stats endpoint: its first instance address and its ENVOY_PROMETHEUS_PORT (15090).</summary>
    private static List<ScrapeTarget> Targets(XdsServer server)
    {
        var targets = new List<ScrapeTarget>();
        foreach (var proxy in server.Proxies())
        {
            var node = proxy.Node;
            if (!proxy.Connected || node.Mode == ProxyMode.Proxyless || node.IpAddresses.Length == 0
                || !IPAddress.TryParse(node.IpAddresses[0], out var ip))
            {
                continue;
            }

            var host = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString();
            targets.Add(new ScrapeTarget(node.Id, node.WorkloadName ?? node.InstanceId ?? node.Id, new Uri($"http://{host}:{node.PrometheusPort ?? 15090}/stats/prometheus")));
        }

        return targets;
    }

    private static MeshInventory Inventory(XdsServer server)
    {
        var snapshot = server.CurrentSnapshot;
        var workloads = snapshot.Instances
            .Where(i => i.Source == Registry.InstanceSource.Runtime)
            .Select(i => new MeshObject(i.Workload, i.Namespace))
            .Concat(server.Proxies().Where(p => p.Connected && p.Node.WorkloadName is not null).Select(p => new MeshObject(p.Node.WorkloadName!, p.Node.Namespace)))
            .Distinct()
            .ToList();
        var services = snapshot.Services
            .Where(s => s.Kind == Registry.ServiceKind.Service)
            .Select(s => new MeshObject(s.Name, s.Namespace))
            .Distinct()
            .ToList();
        return new MeshInventory(workloads, services);
    }
}
