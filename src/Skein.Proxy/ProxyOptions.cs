using System.Globalization;

namespace Skein.Proxy;

/// <summary>How the workload's traffic reaches the proxy.</summary>
internal enum CaptureMode
{
    /// <summary>iptables redirects connections; the destination comes from <c>SO_ORIGINAL_DST</c>.</summary>
    Transparent,

    /// <summary>The app uses the proxy as its HTTP proxy; the destination comes from the Host header or absolute-form target.</summary>
    Explicit,
}

/// <summary>The proxy's command line (every port may be 0 to pick a free one).</summary>
internal sealed record ProxyOptions
{
    public int OutboundPort { get; init; } = 15001;

    public int InboundPort { get; init; } = 15006;

    public int AdminPort { get; init; } = 15000;

    public int StatsPort { get; init; } = 15090;

    public int HealthPort { get; init; } = 15021;

    public string? BootstrapPath { get; init; }

    public string? XdsAddress { get; init; }

    public string? NodeId { get; init; }

    public CaptureMode Mode { get; init; } = CaptureMode.Transparent;

    public TimeSpan DrainDuration { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long to wait for the first bytes before treating a connection as server-first opaque TCP.</summary>
    public TimeSpan DetectionTimeout { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Destination ports proxied as opaque TCP without protocol detection.</summary>
    public IReadOnlySet<int> OpaquePorts { get; init; } = new HashSet<int>();

    /// <summary>The local application's port (inbound destination when no original destination is known).</summary>
    public int AppPort { get; init; }

    /// <summary>Writes one JSON access log line per request to stdout.</summary>
    public bool AccessLog { get; init; }

    /// <summary>Istio metrics, skein_proxy request series and metadata exchange (<c>--no-metrics</c> turns them off).</summary>
    public bool Metrics { get; init; } = true;

    /// <summary>Trace context and spans (<c>--no-tracing</c> turns them off).</summary>
    public bool Tracing { get; init; } = true;

    /// <summary>Percentage of new traces sampled (<c>--trace-sampling</c>); null: node metadata, else 1.</summary>
    public double? TraceSampling { get; init; }

    /// <summary>OTLP/HTTP traces URL (<c>--trace-collector</c>), <c>none</c> to export nothing; null: node metadata, else the control plane's host on 4318.</summary>
    public string? TraceCollector { get; init; }

    /// <summary>The certificate service (Istio's 15012, TLS): with <see cref="CaRootFile"/> and <see cref="TokenFile"/>, the proxy gets its SVID there.</summary>
    public string? CaAddress { get; init; }

    /// <summary>Root certificate(s) the CA's TLS certificate must chain to (given out of band, like Istio's root configmap).</summary>
    public string? CaRootFile { get; init; }

    /// <summary>The token that proves the workload's identity to the CA (bootstrap token or service-account JWT).</summary>
    public string? TokenFile { get; init; }

    /// <summary>Certificate lifetime to ask the CA for; unset lets the CA decide (24 h by default).</summary>
    public TimeSpan? CertificateLifetime { get; init; }

    /// <summary>Log level for the proxy's own logs (warning by default: the request path logs nothing at info).</summary>
    public Microsoft.Extensions.Logging.LogLevel LogLevel { get; init; } = Microsoft.Extensions.Logging.LogLevel.Warning;

    public const string Usage = """
        usage: skein-proxy [options]
          --bootstrap FILE         Envoy-style JSON bootstrap (static_resources, dynamic_resources.ads_config, admin, node)
          --xds-address URL        control plane ADS address, e.g. http://127.0.0.1:15010
          --node-id ID             xDS node id (default: from the bootstrap, else sidecar~127.0.0.1~skein-proxy.default~default.svc.cluster.local)
          --mode MODE              transparent (iptables, SO_ORIGINAL_DST; default) or explicit (HTTP_PROXY)
          --outbound-port N        outbound capture port (default 15001)
          --inbound-port N         inbound capture port (default 15006)
          --admin-port N           admin port on 127.0.0.1 (default 15000)
          --stats-port N           /stats/prometheus port (default 15090)
          --health-port N          /healthz/ready port (default 15021)
          --app-port N             the local app's port (inbound destination in explicit mode)
          --drain-duration D       time in-flight requests get on SIGTERM (default 5s)
          --detection-timeout D    wait for client bytes before treating a connection as server-first TCP (default 100ms)
          --opaque-ports P,P       destination ports proxied as TCP without protocol detection
          --access-log             write one JSON access log line per request to stdout
          --no-metrics             record no Istio / request metrics (and no metadata exchange)
          --no-tracing             no spans; trace headers pass through untouched
          --trace-sampling PCT     percentage of new traces sampled, 0-100 (default: node metadata, else 1)
          --trace-collector URL    OTLP/HTTP traces endpoint, or none (default: http://<control plane host>:4318/v1/traces)
          --log-level LEVEL        trace, debug, information, warning (default), error
          --ca-address URL         certificate service, e.g. https://198.18.0.1:15012 (with --ca-root and --token-file)
          --ca-root FILE           root certificate(s) the CA's TLS certificate must chain to
          --token-file FILE        token proving the workload's identity to the CA (read on every request)
          --cert-ttl D             certificate lifetime to ask for (default: the CA's, 24h)
        """;

    /// <summary>Parses the command line; throws <see cref="ArgumentException"/> with a message naming the bad option.</summary>
    public static ProxyOptions Parse(IReadOnlyList<string> args)
    {
        var o = new ProxyOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string Value()
            {
                if (i + 1 >= args.Count)
                {
                    throw new ArgumentException($"{name}: a value is required");
                }

                return args[++i];
            }

            o = name switch
            {
                "--outbound-port" => o with { OutboundPort = Port(name, Value()) },
                "--inbound-port" => o with { InboundPort = Port(name, Value()) },
                "--admin-port" => o with { AdminPort = Port(name, Value()) },
                "--stats-port" => o with { StatsPort = Port(name, Value()) },
                "--health-port" => o with { HealthPort = Port(name, Value()) },
                "--app-port" => o with { AppPort = Port(name, Value()) },
                "--bootstrap" => o with { BootstrapPath = Value() },
                "--xds-address" => o with { XdsAddress = Value() },
                "--node-id" => o with { NodeId = Value() },
                "--mode" => o with { Mode = Value() switch
                {
                    "transparent" => CaptureMode.Transparent,
                    "explicit" => CaptureMode.Explicit,
                    var v => throw new ArgumentException($"{name}: \"{v}\" is not transparent or explicit"),
                } },
                "--drain-duration" => o with { DrainDuration = Duration(name, Value()) },
                "--detection-timeout" => o with { DetectionTimeout = Duration(name, Value()) },
                "--opaque-ports" => o with { OpaquePorts = Value().Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => Port(name, p)).ToHashSet() },
                "--access-log" => o with { AccessLog = true },
                "--ca-address" => o with { CaAddress = Value() },
                "--ca-root" => o with { CaRootFile = Value() },
                "--token-file" => o with { TokenFile = Value() },
                "--cert-ttl" => o with { CertificateLifetime = Duration(name, Value()) },
                "--no-metrics" => o with { Metrics = false },
                "--no-tracing" => o with { Tracing = false },
                "--trace-sampling" => o with { TraceSampling = Percent(name, Value()) },
                "--trace-collector" => o with { TraceCollector = Value() },
                "--log-level" => o with { LogLevel = Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(Value(), true, out var l) ? l : throw new ArgumentException($"{name}: unknown level") },
                _ => throw new ArgumentException($"unknown option {name}"),
            };
        }

        if ((o.CaAddress is null) != (o.TokenFile is null) || (o.CaAddress is null) != (o.CaRootFile is null))
        {
            throw new ArgumentException("--ca-address, --ca-root and --token-file go together");
        }

        if (o.CaAddress is not null && (!Uri.TryCreate(o.CaAddress, UriKind.Absolute, out var ca) || ca.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"--ca-address: \"{o.CaAddress}\" is not an https:// URL (the token must not travel in clear)");
        }

        return o;
    }

    private static double Percent(string name, string value) =>
        double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var p) && p is >= 0 and <= 100
            ? p
            : throw new ArgumentException($"{name}: \"{value}\" is not a percentage (0-100)");

    private static int Port(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is >= 0 and <= 65535
            ? p
            : throw new ArgumentException($"{name}: \"{value}\" is not a port (0-65535)");

    /// <summary>Parses Go/Istio-style durations: <c>5s</c>, <c>100ms</c>, <c>1m30s</c>.</summary>
    public static TimeSpan Duration(string name, string value)
    {
        var total = TimeSpan.Zero;
        var i = 0;
        while (i < value.Length)
        {
            var start = i;
            while (i < value.Length && (char.IsAsciiDigit(value[i]) || value[i] == '.'))
            {
                i++;
            }

            var unitStart = i;
            while (i < value.Length && char.IsAsciiLetter(value[i]))
            {
                i++;
            }

            if (start == unitStart || !double.TryParse(value.AsSpan(start, unitStart - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n))
            {
                throw new ArgumentException($"{name}: \"{value}\" is not a duration (e.g. 5s, 100ms)");
            }

            total += value[unitStart..i] switch
            {
                "h" => TimeSpan.FromHours(n),
                "m" => TimeSpan.FromMinutes(n),
                "s" => TimeSpan.FromSeconds(n),
                "ms" => TimeSpan.FromMilliseconds(n),
                "us" => TimeSpan.FromMicroseconds(n),
                _ => throw new ArgumentException($"{name}: \"{value}\" has an unknown unit (h, m, s, ms, us)"),
            };
        }

        return value.Length == 0 ? throw new ArgumentException($"{name}: empty duration") : total;
    }
}
