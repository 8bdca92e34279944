using Microsoft.AspNetCore.Http;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.Protocol;

/// <summary>A step of the HTTP request pipeline (filters in xDS order, ending with the router).</summary>
internal delegate ValueTask ProxyRequestDelegate(ProxyContext context);

/// <summary>
/// Everything one proxied HTTP request carries through the pipeline: the downstream connection, the config
/// snapshot it started with, what routing chose, what happened (flags, status, timings, bytes).
/// Observers (metrics, access log, traces) read it once the request completes.
/// </summary>
internal sealed class ProxyContext
{
    public ProxyContext(HttpContext http, RuntimeConfig config, DownstreamConnection connection, TimeProvider time)
    {
        Http = http;
        Config = config;
        Connection = connection;
        Time = time;
        StartTimestamp = time.GetTimestamp();
        StartTime = time.GetUtcNow();
    }

    public HttpContext Http { get; }

    /// <summary>The snapshot this request uses from start to end.</summary>
    public RuntimeConfig Config { get; }

    public DownstreamConnection Connection { get; }

    public TimeProvider Time { get; }

    public ListenerRuntime? Listener { get; set; }

    public FilterChainRuntime? FilterChain { get; set; }

    public HttpConnectionManagerRuntime? Manager { get; set; }

    public VirtualHostRuntime? VirtualHost { get; set; }

    public RouteRuntime? Route { get; set; }

    /// <summary>The route's target that was picked (after weights).</summary>
    public WeightedClusterEntry? ClusterChoice { get; set; }

    public ClusterEntry? Cluster { get; set; }

    public UpstreamEndpoint? Endpoint { get; set; }

    /// <summary>The authority (Host) the request was routed with, lower case as received.</summary>
    public string Authority { get; set; } = string.Empty;

    /// <summary>The path and query as the client sent them (not decoded).</summary>
    public string PathAndQuery { get; set; } = "/";

    public bool IsGrpc { get; set; }

    /// <summary>The path and query sent upstream when a rewrite applied, else null (sent as received).</summary>
    public string? RewrittenPathAndQuery { get; set; }

    /// <summary>Cancels the upstream exchange when the request's timeout expires (null when no timeout applies).</summary>
    public CancellationTokenSource? Deadline { get; set; }

    public string? RequestId { get; set; }

    public ResponseFlags Flags { get; set; }

    /// <summary>Envoy's <c>response_code_details</c> (e.g. <c>route_not_found</c>).</summary>
    public string? ResponseCodeDetails { get; set; }

    public string? UpstreamTransportFailureReason { get; set; }

    public int StatusCode { get; set; }

    public long StartTimestamp { get; }

    public DateTimeOffset StartTime { get; }

    public long UpstreamStartTimestamp { get; set; }

    public long FirstByteTimestamp { get; set; }

    public long EndTimestamp { get; set; }

    public long BytesReceived { get; set; }

    public long BytesSent { get; set; }

    /// <summary>Metadata exchange, trace context and resolved labels (a field: observers update it in place).</summary>
    public Telemetry.RequestTelemetry Telemetry;

    /// <summary>Milliseconds from <see cref="StartTimestamp"/> to <paramref name="timestamp"/>, or -1 if not reached.</summary>
    public double MillisecondsTo(long timestamp) =>
        timestamp == 0 ? -1 : Time.GetElapsedTime(StartTimestamp, timestamp).TotalMilliseconds;

    public double DurationMilliseconds => MillisecondsTo(EndTimestamp == 0 ? Time.GetTimestamp() : EndTimestamp);

    /// <summary>Looks up the most specific per-filter config for <paramref name="filterName"/>: weighted cluster, route, virtual host, route table.</summary>
    public bool TryGetFilterConfig(string filterName, out object config)
    {
        if (ClusterChoice is { } choice && choice.FilterConfigs.TryGet(filterName, out config))
        {
            return true;
        }

        if (Route is { } route)
        {
            if (route.FilterConfigs.TryGet(filterName, out config) || route.VirtualHost.FilterConfigs.TryGet(filterName, out config)
                || route.VirtualHost.Table.FilterConfigs.TryGet(filterName, out config))
            {
                return true;
            }
        }

        config = null!;
        return false;
    }
}
