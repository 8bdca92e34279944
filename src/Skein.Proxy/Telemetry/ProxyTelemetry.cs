using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;
using Skein.Proxy.Tracing;

namespace Skein.Proxy.Telemetry;

/// <summary>
/// The proxy's per-request telemetry hooks: at request start (metadata exchange in, request id, trace context),
/// on the upstream request (metadata exchange out), on the upstream response (metadata exchange back), and at
/// completion (labels resolved once for every observer, span queued). Everything here is lookups in caches built
/// from the snapshot; nothing blocks.
/// </summary>
internal sealed class ProxyTelemetry(TelemetrySettings settings, LocalWorkload local, PeerResolver resolver, Tracer? tracer)
{
    private static readonly StringValues NoValue = StringValues.Empty;

    public TelemetrySettings Settings => settings;

    public LocalWorkload Local => local;

    public PeerResolver Resolver => resolver;

    public Tracer? Tracer => tracer;

    /// <summary>Set by the host when something besides metrics reads the resolved labels (access log, tap).</summary>
    public Func<bool>? LabelsWanted { get; set; }

    public void OnRequestStarted(ProxyContext ctx)
    {
        ctx.Telemetry.Hooks = this;
        var headers = ctx.Http.Request.Headers;
        if (settings.Metrics && ctx.Connection.Role == ListenerRole.Inbound)
        {
            ctx.Telemetry.ExchangeRequested = headers.ContainsKey(MetadataExchange.Header) || headers.ContainsKey(MetadataExchange.IdHeader);
            if (ctx.Telemetry.ExchangeRequested)
            {
                ctx.Telemetry.DownstreamPeer = MetadataExchange.Take(headers);
            }
        }

        if (tracer is not null)
        {
            if (ctx.Manager?.GenerateRequestId != false && !headers.ContainsKey("x-request-id"))
            {
                headers["x-request-id"] = Guid.NewGuid().ToString();
            }

            tracer.Start(ctx);
        }
    }

    /// <summary>Outbound to a mesh cluster: tell the server-side proxy who we are (replacing anything the app sent).</summary>
    public void OnUpstreamRequest(ProxyContext ctx, HttpRequestMessage request)
    {
        if (!settings.Metrics || ctx.Connection.Role != ListenerRole.Outbound || !IsMeshCluster(ctx.Cluster))
        {
            return;
        }

        var h = request.Headers;
        h.Remove(MetadataExchange.Header);
        h.Remove(MetadataExchange.IdHeader);
        h.TryAddWithoutValidation(MetadataExchange.Header, local.ExchangeHeaderValue);
        h.TryAddWithoutValidation(MetadataExchange.IdHeader, local.NodeId);
    }

    /// <summary>Outbound: learn (and hide from the app) the server's metadata. Inbound: answer an exchange with ours.</summary>
    public void OnUpstreamResponse(ProxyContext ctx, HttpResponse response)
    {
        if (!settings.Metrics)
        {
            return;
        }

        var headers = response.Headers;
        if (ctx.Connection.Role == ListenerRole.Outbound)
        {
            if (headers.ContainsKey(MetadataExchange.Header) || headers.ContainsKey(MetadataExchange.IdHeader))
            {
                ctx.Telemetry.UpstreamPeer = MetadataExchange.Take(headers);
            }
        }
        else if (ctx.Telemetry.ExchangeRequested)
        {
            headers[MetadataExchange.Header] = local.ExchangeHeaderValue;
            headers[MetadataExchange.IdHeader] = local.NodeId;
        }
    }

    /// <summary>At completion: resolves the labels once for every observer and queues the span.</summary>
    public void OnRequestCompleted(ProxyContext ctx)
    {
        if (settings.Metrics || ctx.Telemetry.Span.Sampled || LabelsWanted?.Invoke() == true)
        {
            Resolve(ctx);
        }

        if (ctx.Telemetry.Span.Sampled && tracer is not null)
        {
            tracer.Complete(ctx, ctx.Telemetry.Service, ctx.Telemetry.GrpcStatus);
        }
    }

    /// <summary>Fills the resolved labels of <paramref name="ctx"/> (idempotent).</summary>
    public void Resolve(ProxyContext ctx)
    {
        ref var t = ref ctx.Telemetry;
        if (t.Resolved)
        {
            return;
        }

        t.Resolved = true;
        t.GrpcStatus = GrpcStatus(ctx);
        if (ctx.Connection.Role == ListenerRole.Inbound)
        {
            var peerId = ctx.Connection.Peer?.SpiffeId;
            var source = t.DownstreamPeer ?? resolver.FromAddress(ctx.Config, ctx.Connection.RemoteEndPoint?.Address) ?? WorkloadPeer.Unknown;
            t.Source = peerId is null ? source : resolver.WithPrincipal(source, peerId);
            t.Destination = peerId is null ? local.Peer : local.PeerWithPrincipal;
            t.Service = resolver.InboundService(ctx.Authority);
            t.Security = peerId is null ? SecurityPolicy.None : SecurityPolicy.MutualTls;
            return;
        }

        // Client side: Istio reports connection_security_policy as unknown; principals come with upstream mTLS.
        var mtls = ctx.Cluster?.Runtime.Settings.Tls is not null;
        var fromEndpoint = ctx.Endpoint is { } e ? resolver.FromEndpoint(e, mtls) : null;
        var destination = t.UpstreamPeer ?? fromEndpoint
            ?? resolver.FromAddress(ctx.Config, ctx.Connection.OriginalDestination?.Address)
            ?? WorkloadPeer.Unknown;
        if (mtls && t.UpstreamPeer is not null && fromEndpoint is not null)
        {
            destination = resolver.WithPrincipal(destination, fromEndpoint.Principal);
        }

        t.Source = mtls ? local.PeerWithPrincipal : local.Peer;
        t.Destination = destination;
        t.Service = resolver.OutboundService(ctx.Cluster ?? RoutedCluster(ctx), ctx.Authority);
        t.Security = SecurityPolicy.Unknown;
    }

    /// <summary>
    /// A reply made before the router picked a cluster (fault abort, rate limit, RBAC): Envoy knows the route's cluster
    /// by then, and Istio labels the request with its service. The route's single cluster, or the first weighted one
    /// (weighted targets of one route are normally subsets of one service).
    /// </summary>
    private static ClusterEntry? RoutedCluster(ProxyContext ctx) =>
        ctx.Route?.Action is ForwardRouteAction action
            ? action.Cluster?.Target ?? (action.WeightedClusters.IsDefaultOrEmpty ? null : action.WeightedClusters[0].Target)
            : null;

    /// <summary>Clusters that lead to mesh workloads: everything but original-destination (passthrough) clusters and those marked external.</summary>
    private static bool IsMeshCluster(ClusterEntry? cluster) =>
        cluster is not null
        && cluster.Runtime.Settings.Discovery != DiscoveryKind.OriginalDestination
        && !(cluster.Runtime.Settings.MetadataLabels.TryGetValue("external", out var ext) && ext == "true");

    private static int GrpcStatus(ProxyContext ctx)
    {
        if (!ctx.IsGrpc)
        {
            return -1;
        }

        var trailers = ctx.Http.Features.Get<IHttpResponseTrailersFeature>()?.Trailers;
        if (trailers is not null && ParseStatus(trailers.TryGetValue("grpc-status", out var t) ? t : NoValue) is { } fromTrailers)
        {
            return fromTrailers;
        }

        if (ParseStatus(ctx.Http.Response.Headers.TryGetValue("grpc-status", out var h) ? h : NoValue) is { } trailersOnly)
        {
            return trailersOnly;
        }

        // No grpc-status: Envoy maps the HTTP status (gRPC's HTTP to gRPC status table).
        return ctx.StatusCode switch
        {
            0 => -1,
            400 => 13,
            401 => 16,
            403 => 7,
            404 => 12,
            429 or 502 or 503 or 504 => 14,
            _ => 2,
        };
    }

    private static int? ParseStatus(StringValues v) =>
        v.Count > 0 && int.TryParse(v[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var s) && s is >= 0 and <= 16 ? s : null;
}
