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
    /// Auto mTLS (Istio's default): send ISTIO_MUTUAL to destinations with sidecars when no DestinationRule says
    /// otherwise, and give inbound listeners TLS filter chains as PeerAuthentication asks (PERMISSIVE by default).
    /// </summary>
    public bool Mtls { get; init; } = true;

    /// <summary>The TLS port serving ADS and the certificate service (Istio's 15012).</summary>
    public int SecureXdsPort { get; init; } = 15012;

    /// <summary>Plug-in CA files (Istio's cacerts): signing certificate, key, chain to the root, root bundle.</summary>
    public string? CaCertFile { get; init; }

    public string? CaKeyFile { get; init; }

    public string? CaChainFile { get; init; }

    public string? RootCertFile { get; init; }

    /// <summary>A directory holding ca-cert.pem, ca-key.pem, cert-chain.pem and root-cert.pem (Istio's cacerts secret).</summary>
    public string? CaCertsDir { get; init; }

    /// <summary>Lifetime of workload certificates when the request does not ask for less.</summary>
    public TimeSpan WorkloadCertTtl { get; init; } = TimeSpan.FromHours(24);

    /// <summary>The longest lifetime a certificate request may ask for.</summary>
    public TimeSpan MaxWorkloadCertTtl { get; init; } = TimeSpan.FromDays(90);

    /// <summary>Kubeconfig used to check service-account tokens with TokenReview (in-cluster config when running in a pod).</summary>
    public string? Kubeconfig { get; init; }

    /// <summary>The audience service-account tokens must carry (Istio's <c>istio-ca</c>).</summary>
    public string TokenAudience { get; init; } = "istio-ca";

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
          --secure-xds-port N      ADS and certificate service over TLS (default 15012)
          --mtls BOOL              auto mTLS between sidecars (default true; --mtls=false sends plaintext unless config asks for TLS)
          --trust-domain NAME      SPIFFE trust domain (default cluster.local)
          --cacerts DIR            plug-in CA directory: ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem
          --ca-cert FILE           plug-in CA signing certificate (with --ca-key and --root-cert; --ca-chain optional)
          --ca-key FILE            plug-in CA private key
          --ca-chain FILE          certificates from the signing certificate up to the root
          --root-cert FILE         root certificate(s) workloads trust (several during a root rotation)
          --workload-cert-ttl D    lifetime of workload certificates (default 24h)
          --max-workload-cert-ttl D  longest lifetime a request may ask for (default 2160h)
          --kubeconfig FILE        check service-account tokens with TokenReview through this cluster
          --token-audience NAME    audience service-account tokens must carry (default istio-ca)
          Without plug-in files the CA is created in --data-dir/ca on first start (ECDSA P-256, 10 years).
          --dashboard-port N|off   the dashboard (default 20001; 0 when --http-port is 0)
          --dashboard-address ADDR address the dashboard binds to (default 127.0.0.1)
          --otlp-port N|off        OTLP/HTTP trace receiver, POST /v1/traces (default 4318; 0 when --http-port is 0)
          --otlp-address ADDR      address the OTLP receiver binds to (default: the --xds-address)
          --scrape-interval D|off  how often to scrape every proxy's /stats/prometheus (default 5s; off when --http-port is 0)
          --prometheus-url URL     read metrics from this Prometheus' HTTP API instead of scraping
          --max-traces N           traces kept in memory for the dashboard and `skein trace` (default 1000)
        """;

    /// <summary>Parses the command line; throws <see cref="ArgumentException"/> naming the bad option.</summary>
    public static ControlPlaneOptions Parse(IReadOnlyList<string> args)
    {
        bool Given(string option) => args.Any(a => a == option || a.StartsWith(option + "=", StringComparison.Ordinal));

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
                "--mtls" => o with { Mtls = Flag(name, inline, args, ref i) },
                "--secure-xds-port" => o with { SecureXdsPort = Port(name, Value()) },
                "--cacerts" => o with { CaCertsDir = Value() },
                "--ca-cert" => o with { CaCertFile = Value() },
                "--ca-key" => o with { CaKeyFile = Value() },
                "--ca-chain" => o with { CaChainFile = Value() },
                "--root-cert" => o with { RootCertFile = Value() },
                "--workload-cert-ttl" => o with { WorkloadCertTtl = Positive(name, Value()) },
                "--max-workload-cert-ttl" => o with { MaxWorkloadCertTtl = Positive(name, Value()) },
                "--kubeconfig" => o with { Kubeconfig = Value() },
                "--token-audience" => o with { TokenAudience = Value() },
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

        // A control plane started on ephemeral ports (tests, benchmarks) gets no fixed telemetry ports and does not
        // scrape the (often simulated) proxies, unless asked: fixed ports would collide, scrapes would go nowhere.
        if (o.HttpPort == 0)
        {
            o = o with
            {
                DashboardPort = Given("--dashboard-port") ? o.DashboardPort : 0,
                OtlpPort = Given("--otlp-port") ? o.OtlpPort : 0,
                ScrapeInterval = Given("--scrape-interval") ? o.ScrapeInterval : null,
            };
        }

        if (o.PushDebounceMax < o.PushDebounce)
        {
            throw new ArgumentException("--push-debounce-max must not be shorter than --push-debounce");
        }

        if ((o.CaCertFile, o.CaKeyFile, o.RootCertFile) is not (null, null, null)
            && (o.CaCertFile is null || o.CaKeyFile is null || o.RootCertFile is null))
        {
            throw new ArgumentException("--ca-cert, --ca-key and --root-cert go together");
        }

        if (o.CaCertsDir is not null && o.CaCertFile is not null)
        {
            throw new ArgumentException("--cacerts and --ca-cert are alternatives; give one");
        }

        if (o.MaxWorkloadCertTtl < o.WorkloadCertTtl)
        {
            throw new ArgumentException("--max-workload-cert-ttl must not be shorter than --workload-cert-ttl");
        }

        return o;
    }

    /// <summary>A boolean flag: <c>--mtls</c>, <c>--mtls=false</c> or <c>--mtls false</c>.</summary>
    private static bool Flag(string name, string? inline, IReadOnlyList<string> args, ref int i)
    {
        var text = inline;
        if (text is null && i + 1 < args.Count && args[i + 1] is "true" or "false")
        {
            text = args[++i];
        }

        return text is null || (bool.TryParse(text, out var b) ? b : throw new ArgumentException($"{name}: \"{text}\" is not true or false"));
    }

    private static TimeSpan Positive(string name, string value) =>
        Duration(name, value) is { } d && d > TimeSpan.Zero ? d : throw new ArgumentException($"{name}: must be longer than 0");

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
