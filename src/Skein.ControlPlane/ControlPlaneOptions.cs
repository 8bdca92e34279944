using System.Globalization;
using Skein.Api.Naming;
using ApiDuration = Skein.Api.Model.Duration;

namespace Skein.ControlPlane;

/// <summary>skein-control's command line. Every port may be 0 to pick a free one (tests).</summary>
internal sealed record ControlPlaneOptions
{
    /// <summary>Directory of YAML/JSON config, watched recursively and reloaded whole on change.</summary>
    public string? ConfigDir { get; init; }

    /// <summary>Plain-text (h2c) ADS port.</summary>
    public int XdsPort { get; init; } = 15010;

    /// <summary>Address the ADS port binds to; all interfaces by default so pods reach it through their gateway.</summary>
    public string XdsAddress { get; init; } = "0.0.0.0";

    /// <summary>HTTP API and metrics port.</summary>
    public int HttpPort { get; init; } = 15014;

    /// <summary>Address the HTTP API binds to; loopback by default (it can change the mesh's config).</summary>
    public string HttpAddress { get; init; } = "127.0.0.1";

    /// <summary>Where config applied through the API, registered instances, VIPs and the version counter survive restarts.</summary>
    public string? DataDir { get; init; }

    /// <summary>Quiet time before a push: changes closer together than this are pushed once.</summary>
    public TimeSpan PushDebounce { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>A push is never delayed longer than this by a stream of changes.</summary>
    public TimeSpan PushDebounceMax { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Quiet time after the last file event before the config directory is reloaded.</summary>
    public TimeSpan WatchDebounce { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Auto mTLS: send ISTIO_MUTUAL to destinations with sidecars when no DestinationRule says otherwise,
    /// and give inbound listeners TLS filter chains. Off until the certificate authority exists.
    /// </summary>
    public bool Mtls { get; init; }

    /// <summary>The SPIFFE trust domain of workload identities.</summary>
    public string TrustDomain { get; init; } = MeshConventions.DefaultDomain;

    /// <summary>How long a disconnected proxy stays in <c>/api/v1/proxies</c>.</summary>
    public TimeSpan DisconnectedRetention { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// The dashboard's port; null: no dashboard. The command line defaults to 20001; hosts built in process
    /// (tests) opt in, so they never collide on fixed ports. The same holds for the OTLP port and scraping.
    /// </summary>
    public int? DashboardPort { get; init; }

    /// <summary>Address the dashboard binds to; loopback by default.</summary>
    public string DashboardAddress { get; init; } = "127.0.0.1";

    /// <summary>The OTLP/HTTP trace receiver's port (<c>POST /v1/traces</c>); null: none (the command line defaults to 4318).</summary>
    public int? OtlpPort { get; init; }

    /// <summary>Address the OTLP receiver binds to; null: the ADS address, which proxies already reach.</summary>
    public string? OtlpAddress { get; init; }

    /// <summary>How often the embedded scraper reads every proxy's <c>/stats/prometheus</c>; null: never (the command line defaults to 5 s).</summary>
    public TimeSpan? ScrapeInterval { get; init; }

    /// <summary>Read Istio's metrics from this Prometheus (its HTTP API) instead of scraping the proxies.</summary>
    public Uri? PrometheusUrl { get; init; }

    /// <summary>How much telemetry history the embedded window keeps.</summary>
    public TimeSpan TelemetryRetention { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>How many traces the built-in receiver keeps (the most recent).</summary>
    public int MaxTraces { get; init; } = 1000;

    public const string Usage = """
        usage: skein-control [options]
          --config-dir DIR         watch DIR (recursively) for YAML/JSON config
          --xds-port N             ADS (gRPC, plain h2c) port (default 15010)
          --xds-address ADDR       address the ADS port binds to (default 0.0.0.0)
          --http-port N            HTTP API and /metrics port (default 15014)
          --http-address ADDR      address the HTTP API binds to (default 127.0.0.1)
          --data-dir DIR           keep API-applied config, registered instances and VIPs across restarts
          --push-debounce D        quiet time before pushing a change (default 100ms)
          --push-debounce-max D    longest a push is delayed by a stream of changes (default 10s)
          --watch-debounce D       quiet time before reloading --config-dir (default 200ms)
          --mtls                   auto mTLS between sidecars (ISTIO_MUTUAL; needs the proxies' certificates)
          --trust-domain NAME      SPIFFE trust domain (default cluster.local)
          --dashboard-port N|off   the dashboard (default 20001)
          --dashboard-address ADDR address the dashboard binds to (default 127.0.0.1)
          --otlp-port N|off        OTLP/HTTP trace receiver, POST /v1/traces (default 4318)
          --otlp-address ADDR      address the OTLP receiver binds to (default: the --xds-address)
          --scrape-interval D|off  how often to scrape every proxy's /stats/prometheus (default 5s)
          --prometheus-url URL     read metrics from this Prometheus' HTTP API instead of scraping
          --max-traces N           traces kept in memory for the dashboard and `skein trace` (default 1000)
        """;

    /// <summary>Parses the command line; throws <see cref="ArgumentException"/> naming the bad option.</summary>
    public static ControlPlaneOptions Parse(IReadOnlyList<string> args)
    {
        var o = new ControlPlaneOptions { DashboardPort = 20001, OtlpPort = 4318, ScrapeInterval = TimeSpan.FromSeconds(5) };
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var name = arg;
            string? inline = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                name = arg[..eq];
                inline = arg[(eq + 1)..];
            }

            string Value()
            {
                if (inline is not null)
                {
                    return inline;
                }

                if (i + 1 >= args.Count)
                {
                    throw new ArgumentException($"{name}: a value is required");
                }

                return args[++i];
            }

            o = name switch
            {
                "--config-dir" => o with { ConfigDir = Value() },
                "--xds-port" => o with { XdsPort = Port(name, Value()) },
                "--xds-address" => o with { XdsAddress = Address(name, Value()) },
                "--http-port" => o with { HttpPort = Port(name, Value()) },
                "--http-address" => o with { HttpAddress = Address(name, Value()) },
                "--data-dir" => o with { DataDir = Value() },
                "--push-debounce" => o with { PushDebounce = Duration(name, Value()) },
                "--push-debounce-max" => o with { PushDebounceMax = Duration(name, Value()) },
                "--watch-debounce" => o with { WatchDebounce = Duration(name, Value()) },
                "--mtls" => o with { Mtls = inline is null || bool.Parse(inline) },
                "--trust-domain" => o with { TrustDomain = Value() },
                "--dashboard-port" => o with { DashboardPort = OptionalPort(name, Value()) },
                "--dashboard-address" => o with { DashboardAddress = Address(name, Value()) },
                "--otlp-port" => o with { OtlpPort = OptionalPort(name, Value()) },
                "--otlp-address" => o with { OtlpAddress = Address(name, Value()) },
                "--scrape-interval" => o with { ScrapeInterval = Interval(name, Value()) },
                "--prometheus-url" => o with { PrometheusUrl = HttpUrl(name, Value()) },
                "--max-traces" => o with { MaxTraces = Count(name, Value()) },
                _ => throw new ArgumentException($"unknown option {name}"),
            };
        }

        if (o.PushDebounceMax < o.PushDebounce)
        {
            throw new ArgumentException("--push-debounce-max must not be shorter than --push-debounce");
        }

        return o;
    }

    private static int Port(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is >= 0 and <= 65535
            ? p
            : throw new ArgumentException($"{name}: \"{value}\" is not a port (0-65535)");

    private static int? OptionalPort(string name, string value) => value == "off" ? null : Port(name, value);

    private static int Count(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 1_000_000
            ? n
            : throw new ArgumentException($"{name}: \"{value}\" is not a number from 1 to 1000000");

    private static Uri HttpUrl(string name, string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var u) && (u.Scheme == Uri.UriSchemeHttp || u.Scheme == Uri.UriSchemeHttps)
            ? u
            : throw new ArgumentException($"{name}: \"{value}\" is not an http(s) URL");

    private static TimeSpan? Interval(string name, string value) =>
        value == "off" ? null : Duration(name, value) is var d && d >= TimeSpan.FromSeconds(1) ? d : throw new ArgumentException($"{name}: must be at least 1s");

    private static string Address(string name, string value) =>
        System.Net.IPAddress.TryParse(value, out _) ? value : throw new ArgumentException($"{name}: \"{value}\" is not an IP address");

    private static TimeSpan Duration(string name, string value) =>
        ApiDuration.TryParse(value, out var d) && d.Value >= TimeSpan.Zero
            ? d.Value
            : throw new ArgumentException($"{name}: \"{value}\" is not a duration such as 100ms or 10s");
}
