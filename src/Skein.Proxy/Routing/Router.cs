using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Skein.Proxy.LoadBalancing;
using Skein.Proxy.Protocol;
using Skein.Proxy.Resilience;
using Skein.Proxy.Runtime;
using Yarp.ReverseProxy.Forwarder;

namespace Skein.Proxy.Routing;

/// <summary>
/// The terminal HTTP filter: carries out the matched route's action. CORS first (preflights are answered here);
/// forwarding picks the cluster (weights), applies header mutations and rewrites, starts mirrors, enforces the
/// deadline and runs the upstream attempts (Router.Attempts.cs): each picks an endpoint (load balancer),
/// passes the circuit breakers and hands the exchange to YARP's <see cref="IHttpForwarder"/> with the
/// cluster's pooled client; retries repeat the attempt. Failures become Envoy's statuses and response flags.
/// </summary>
internal sealed partial class Router(IHttpForwarder forwarder, IRandomSource random, ILogger<Router> logger)
{
    /// <summary>The proxy's own capture ports, set once bound: passthrough to them would loop forever.</summary>
    public IReadOnlySet<int> OwnPorts { get; set; } = new HashSet<int>();

    private static readonly ConcurrentDictionary<(int Version, long IdleTicks), ForwarderRequestConfig> Configs = new();

    public async ValueTask RouteAsync(ProxyContext ctx)
    {
        var route = ctx.Route;
        if (route is null)
        {
            await LocalReply.SendAsync(ctx, 404, ResponseFlags.NoRouteFound, "route_not_found", string.Empty).ConfigureAwait(false);
            return;
        }

        if (((route.Action as ForwardRouteAction)?.Cors ?? route.VirtualHost.Cors) is { } cors && CorsHandler.Apply(ctx, cors, random))
        {
            return; // a preflight, answered
        }

        switch (route.Action)
        {
            case ForwardRouteAction forward:
                await ForwardAsync(ctx, route, forward).ConfigureAwait(false);
                break;
            case RedirectRouteAction redirect:
                var location = PathRewrites.RedirectLocation(ctx, redirect);
                await LocalReply.SendAsync(ctx, redirect.StatusCode, ResponseFlags.None, "direct_response", string.Empty).ConfigureAwait(false);
                ctx.Http.Response.Headers.Location = location; // after the reply cleared the headers; nothing is sent yet
                break;
            case DirectResponseRouteAction direct:
                await SendDirectAsync(ctx, direct).ConfigureAwait(false);
                break;
        }
    }

    private static async ValueTask SendDirectAsync(ProxyContext ctx, DirectResponseRouteAction direct)
    {
        var response = ctx.Http.Response;
        response.StatusCode = direct.StatusCode;
        ctx.StatusCode = direct.StatusCode;
        ctx.ResponseCodeDetails = "direct_response";
        LocalReply.ApplyRouteResponseHeaders(ctx);
        response.ContentLength = direct.Body.Length;
        if (direct.Body.Length > 0)
        {
            response.ContentType ??= "text/plain";
            await response.Body.WriteAsync(direct.Body, ctx.Http.RequestAborted).ConfigureAwait(false);
        }
    }

    private async ValueTask ForwardAsync(ProxyContext ctx, RouteRuntime route, ForwardRouteAction action)
    {
        if (!UpgradeAllowed(ctx, action))
        {
            await LocalReply.SendAsync(ctx, 403, ResponseFlags.None, "upgrade_failed", "upgrade failed").ConfigureAwait(false);
            return;
        }

        var choice = PickCluster(ctx, action);
        ctx.ClusterChoice = choice;
        var cluster = choice?.Target;
        if (choice is not null && action.ClusterHeader is not null && cluster is null)
        {
            cluster = ctx.Config.Clusters.GetValueOrDefault(choice.Name);
        }

        if (cluster is null)
        {
            await LocalReply.SendAsync(ctx, action.ClusterNotFoundStatus, ResponseFlags.NoClusterFound, "cluster_not_found", string.Empty)
                .ConfigureAwait(false);
            return;
        }

        ctx.Cluster = cluster;
        PrepareRequest(ctx, route, action, choice!);
        var timeout = Deadlines.For(ctx, action, out var fromGrpc);
        if (timeout is { } t)
        {
            ctx.Deadline = new CancellationTokenSource(t, ctx.Time);
        }

        var upgrade = IsUpgrade(ctx);
        var policy = upgrade ? null : action.RetryPolicy ?? route.VirtualHost.RetryPolicy;
        var hasBody = ctx.Http.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? false;
        ReplayableRequestBody? body = null;
        if (hasBody && !upgrade && (policy is not null || !action.MirrorPolicies.IsEmpty))
        {
            // Kept up to a limit so that a retry can send it again and a mirror can send a copy.
            body = new ReplayableRequestBody(ctx.Http.Request.Body);
            ctx.Http.Request.Body = body;
        }

        if (!action.MirrorPolicies.IsEmpty && !upgrade)
        {
            RequestMirror.Start(ctx, action, body, hasBody, random, logger);
        }

        var hash = action.HashPolicies.IsEmpty ? null : RequestHash.Compute(ctx, action.HashPolicies);
        var retry = policy is null ? null : new RetryState(policy, ctx, cluster.Runtime, body, random);
        try
        {
            await SendWithRetriesAsync(ctx, action, cluster, hash, retry, fromGrpc).ConfigureAwait(false);
        }
        finally
        {
            retry?.Finish();
            ctx.Deadline?.Dispose();
            body?.Dispose();
        }
    }

    private WeightedClusterEntry? PickCluster(ProxyContext ctx, ForwardRouteAction action)
    {
        if (action.Cluster is { } single)
        {
            return single;
        }

        if (action.ClusterHeader is { } header)
        {
            var name = ctx.Http.Request.Headers[header].ToString();
            return name.Length == 0
                ? null
                : new WeightedClusterEntry(name, 1, null, HeaderMutations.None, HeaderMutations.None, PerFilterConfig.Empty);
        }

        var roll = random.Next(action.TotalWeight);
        foreach (var w in action.WeightedClusters)
        {
            roll -= w.Weight;
            if (roll < 0)
            {
                return w;
            }
        }

        return action.WeightedClusters[^1];
    }

    private static void PrepareRequest(ProxyContext ctx, RouteRuntime route, ForwardRouteAction action, WeightedClusterEntry choice)
    {
        var headers = ctx.Http.Request.Headers;
        choice.RequestHeaders.ApplyTo(headers);
        route.RequestHeaders.ApplyTo(headers);
        route.VirtualHost.RequestHeaders.ApplyTo(headers);
        route.VirtualHost.Table.RequestHeaders.ApplyTo(headers);
        if (!headers.ContainsKey("x-forwarded-proto"))
        {
            headers["x-forwarded-proto"] = ctx.Connection.TransportProtocol == "tls" ? "https" : "http";
        }

        if (ctx.Manager?.GenerateRequestId != false && !headers.ContainsKey("x-request-id"))
        {
            headers["x-request-id"] = Guid.NewGuid().ToString();
        }

        ctx.RequestId = headers["x-request-id"].ToString();
        ctx.RewrittenPathAndQuery = PathRewrites.Rewrite(ctx, route.Match, action.PrefixRewrite, action.RegexRewrite);
        if (action.HostRewriteLiteral is { } host)
        {
            headers.Host = host;
        }
    }

    private static bool IsUpgrade(ProxyContext ctx) =>
        ctx.Http.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest == true
        || ctx.Http.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect == true;

    private static bool UpgradeAllowed(ProxyContext ctx, ForwardRouteAction action)
    {
        string? type = null;
        var request = ctx.Http.Request;
        if (ctx.Http.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest == true)
        {
            type = request.Headers.Upgrade.ToString();
        }
        else if (ctx.Http.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect == true)
        {
            type = ctx.Http.Features.Get<IHttpExtendedConnectFeature>()!.Protocol;
        }

        if (string.IsNullOrEmpty(type))
        {
            return true;
        }

        if (action.Upgrades.TryGetValue(type, out var enabled))
        {
            return enabled;
        }

        return ctx.Manager is null || (ctx.Manager.Upgrades.TryGetValue(type, out enabled) && enabled);
    }

    private bool IsSelf(UpstreamEndpoint endpoint) =>
        OwnPorts.Contains(endpoint.Port)
        && (endpoint.Host is "localhost" || (IPAddress.TryParse(endpoint.Host, out var ip) && (IPAddress.IsLoopback(ip) || ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any))));

    private static UpstreamEndpoint? OriginalDestinationEndpoint(ProxyContext ctx)
    {
        string host;
        int port;
        if (ctx.Connection.OriginalDestination is { } dst)
        {
            host = dst.Address.IsIPv4MappedToIPv6 ? dst.Address.MapToIPv4().ToString() : dst.Address.ToString();
            port = dst.Port;
        }
        else
        {
            var (h, p) = PathRewrites.SplitAuthority(ctx.Authority);
            if (h.Length == 0)
            {
                return null;
            }

            host = h.Trim('[', ']');
            port = p is not null && int.TryParse(p, out var n) ? n : 80;
        }

        var address = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : $"{host}:{port}";
        return new UpstreamEndpoint(
            host, port, EndpointHealth.Healthy, 1, string.Empty, System.Collections.Frozen.FrozenDictionary<string, string>.Empty, new EndpointStats())
        {
            Address = address,
            HttpPrefix = "http://" + address,
        };
    }

    private static ForwarderRequestConfig RequestConfig(ProxyContext ctx, UpstreamProtocol protocol, TimeSpan? idle)
    {
        var version = protocol switch
        {
            UpstreamProtocol.Http2 => 2,
            UpstreamProtocol.UseDownstream => HttpProtocol.IsHttp2(ctx.Http.Request.Protocol) ? 2 : 1,
            _ => 1,
        };
        var idleTimeout = idle is { } i && i > TimeSpan.Zero && i != Timeout.InfiniteTimeSpan ? i : TimeSpan.FromDays(1);
        return Configs.GetOrAdd((version, idleTimeout.Ticks), static key => new ForwarderRequestConfig
        {
            Version = key.Version == 2 ? HttpVersion.Version20 : HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            ActivityTimeout = TimeSpan.FromTicks(key.IdleTicks),
            AllowResponseBuffering = false,
        });
    }
}
