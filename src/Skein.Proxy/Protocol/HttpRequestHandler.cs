using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Skein.Proxy.Listeners;
using Skein.Proxy.Routing;
using Skein.Proxy.Runtime;
using Skein.Proxy.Telemetry;

namespace Skein.Proxy.Protocol;

/// <summary>
/// Entry of every proxied HTTP request (Kestrel's request delegate on the capture ports): takes the current
/// snapshot once, selects listener, filter chain, connection manager, virtual host and route, runs the
/// connection manager's filter pipeline, and reports the finished request to the observers.
/// </summary>
internal sealed partial class HttpRequestHandler(
    RuntimeConfigStore store,
    PassthroughRoute passthrough,
    Router router,
    RequestObservers observers,
    IRandomSource random,
    TimeProvider time,
    ILogger<HttpRequestHandler> logger)
{
    public async Task HandleAsync(HttpContext http, DownstreamConnection connection)
    {
        var ctx = new ProxyContext(http, store.Current, connection, time);
        http.Features.Set(ctx);
        var request = http.Request;
        ctx.Authority = request.Host.Value ?? string.Empty;
        var raw = http.Features.Get<IHttpRequestFeature>()?.RawTarget;
        ctx.PathAndQuery = raw is { Length: > 0 } && raw[0] == '/' ? raw : request.Path.ToUriComponent() + request.QueryString.ToUriComponent();
        ctx.IsGrpc = request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true;
        request.Body = new CountingStream(request.Body, ctx, isRequest: true);
        http.Response.Body = new CountingStream(http.Response.Body, ctx, isRequest: false);

        try
        {
            if (!PathNormalizer.TryNormalize(ctx.PathAndQuery, out var normalized))
            {
                await LocalReply.SendAsync(ctx, 400, ResponseFlags.None, PathNormalizer.RejectedDetails, string.Empty).ConfigureAwait(false);
                return;
            }

            ctx.PathAndQuery = normalized; // routes, RBAC and the upstream all see the normalised path
            var pipeline = Resolve(ctx);
            observers.RequestStarted(ctx);
            await pipeline(ctx).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !http.RequestAborted.IsCancellationRequested)
        {
            Log.RequestFailed(logger, ctx.PathAndQuery, e);
            if (!http.Response.HasStarted)
            {
                await LocalReply.SendAsync(ctx, 500, ResponseFlags.None, "internal_error", "internal error").ConfigureAwait(false);
            }
            else
            {
                http.Abort();
            }
        }
        catch (OperationCanceledException)
        {
            ctx.Flags |= ResponseFlags.DownstreamConnectionTermination;
        }
        finally
        {
            ctx.EndTimestamp = time.GetTimestamp();
            if (http.RequestAborted.IsCancellationRequested && !http.Response.HasStarted)
            {
                ctx.Flags |= ResponseFlags.DownstreamConnectionTermination;
                ctx.StatusCode = 0;
            }
            else
            {
                ctx.StatusCode = http.Response.StatusCode;
            }

            observers.RequestCompleted(ctx);
        }
    }

    private ProxyRequestDelegate Resolve(ProxyContext ctx)
    {
        var destination = ctx.Connection.OriginalDestination ?? AuthorityDestination(ctx.Authority);
        var listener = ListenerSelector.SelectListener(ctx.Config.Listeners, ctx.Connection.Role, destination);
        ctx.Listener = listener;
        var chain = listener is null ? null : ListenerSelector.SelectChain(listener, ctx.Connection, destination);
        ctx.FilterChain = chain;
        if (chain?.Handler is not HttpConnectionManagerRuntime manager)
        {
            // Unknown destination: Istio's PassthroughCluster (outbound traffic policy ALLOW_ANY).
            ctx.Route = passthrough.Route;
            return router.RouteAsync;
        }

        ctx.Manager = manager;
        var host = RouteMatcher.SelectVirtualHost(manager.Routes, ctx.Authority);
        ctx.VirtualHost = host;
        ctx.Route = host is null ? null : RouteMatcher.Match(host, ctx, random);
        return manager.Pipeline;
    }

    /// <summary>Explicit mode: the destination port comes from the authority (80 when absent).</summary>
    private static IPEndPoint AuthorityDestination(string authority)
    {
        var (host, port) = PathRewrites.SplitAuthority(authority);
        var p = port is not null && int.TryParse(port, out var n) ? n : 80;
        var ip = IPAddress.TryParse(host.Trim('[', ']'), out var parsed) ? parsed : IPAddress.Any;
        return new IPEndPoint(ip, p);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 30, Level = LogLevel.Error, Message = "Request {Path} failed")]
        public static partial void RequestFailed(ILogger logger, string path, Exception exception);
    }
}
