using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Skein.Proxy.Discovery;
using Skein.Xds.Envoy.Config.Core.V3;

namespace Skein.Proxy.Telemetry;

/// <summary>
/// What the proxy records. Each setting comes from the command line, else the node metadata of the bootstrap
/// (what the runtime writes per workload), else the default. Sampling may also be pushed by the control plane per
/// HTTP connection manager (<c>tracing.random_sampling</c>), which then wins for that listener.
/// </summary>
internal sealed record TelemetrySettings
{
    public const double DefaultSamplingPercent = 1;
    public const int CollectorPort = 4318;

    /// <summary>Istio metrics, the skein_proxy request series and the metadata exchange (<c>--no-metrics</c> turns them off).</summary>
    public bool Metrics { get; init; } = true;

    /// <summary>Trace context handling and spans (<c>--no-tracing</c> turns them off: trace headers pass through untouched).</summary>
    public bool Tracing { get; init; } = true;

    public double SamplingPercent { get; init; } = DefaultSamplingPercent;

    /// <summary>OTLP/HTTP traces endpoint, or null (spans are then not recorded; context is still propagated).</summary>
    public Uri? Collector { get; init; }

    public bool AccessLog { get; init; }

    /// <summary>How long the exporter waits to fill a batch.</summary>
    public TimeSpan ExportInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Combines the options, the node metadata (<c>PROXY_CONFIG.tracing.sampling</c> as Istio names it, or
    /// <c>SKEIN_TRACE_SAMPLING</c>; <c>SKEIN_TRACE_COLLECTOR</c>; <c>SKEIN_ACCESS_LOG</c>) and the control plane
    /// address (the default collector is skein-control's receiver on port 4318 of the same host).
    /// </summary>
    /// <exception cref="BootstrapException">A node metadata value is malformed (the message names it).</exception>
    public static TelemetrySettings From(ProxyOptions options, Node? node, Uri? controlPlane)
    {
        var sampling = options.TraceSampling
            ?? Percent(LocalWorkload.MetadataPath(node, "PROXY_CONFIG", "tracing", "sampling"), "node.metadata.PROXY_CONFIG.tracing.sampling")
            ?? Percent(LocalWorkload.MetadataPath(node, "SKEIN_TRACE_SAMPLING"), "node.metadata.SKEIN_TRACE_SAMPLING")
            ?? DefaultSamplingPercent;

        var collectorText = options.TraceCollector ?? LocalWorkload.Metadata(node, "SKEIN_TRACE_COLLECTOR");
        Uri? collector = null;
        if (collectorText is not null && collectorText != "none")
        {
            if (!Uri.TryCreate(collectorText, UriKind.Absolute, out collector) || collector.Scheme is not ("http" or "https"))
            {
                throw new BootstrapException($"{(options.TraceCollector is null ? "node.metadata.SKEIN_TRACE_COLLECTOR" : "--trace-collector")}: \"{collectorText}\" is not an http(s) URL");
            }

            if (collector.AbsolutePath is "/" or "")
            {
                collector = new Uri(collector, "/v1/traces");
            }
        }
        else if (collectorText is null && controlPlane is not null)
        {
            collector = new UriBuilder("http", controlPlane.Host, CollectorPort, "/v1/traces").Uri;
        }

        var accessLog = options.AccessLog;
        if (!accessLog && LocalWorkload.Metadata(node, "SKEIN_ACCESS_LOG") is { } a)
        {
            accessLog = a.ToLowerInvariant() switch
            {
                "true" or "on" or "1" => true,
                "false" or "off" or "0" or "" => false,
                _ => throw new BootstrapException($"node.metadata.SKEIN_ACCESS_LOG: \"{a}\" is not true or false"),
            };
        }

        return new TelemetrySettings
        {
            Metrics = options.Metrics,
            Tracing = options.Tracing,
            SamplingPercent = sampling,
            Collector = options.Tracing ? collector : null,
            AccessLog = accessLog,
        };
    }

    private static double? Percent(Value? value, string where)
    {
        if (value is null)
        {
            return null;
        }

        double p;
        switch (value.KindCase)
        {
            case Value.KindOneofCase.NumberValue:
                p = value.NumberValue;
                break;
            case Value.KindOneofCase.StringValue when double.TryParse(value.StringValue, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed):
                p = parsed;
                break;
            default:
                throw new BootstrapException($"{where}: must be a number from 0 to 100");
        }

        return p is >= 0 and <= 100 ? p : throw new BootstrapException($"{where}: {p.ToString(CultureInfo.InvariantCulture)} is not between 0 and 100");
    }
}
