using System.Globalization;
using Microsoft.AspNetCore.Http;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;
using Yarp.ReverseProxy.Forwarder;

namespace Skein.Proxy.Routing;

/// <summary>
/// The one YARP transformer of the proxy (a singleton: per-request state comes from the request's
/// <see cref="ProxyContext"/>). Keeps the Host header as Envoy does, applies path rewrites, records the
/// upstream response time and applies response header mutations.
/// </summary>
internal sealed class ProxyTransformer : HttpTransformer
{
    public static ProxyTransformer Instance { get; } = new();

    private ProxyTransformer()
    {
    }

    public override async ValueTask TransformRequestAsync(
        HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        var ctx = httpContext.Features.Get<ProxyContext>();
        if (ctx?.RewrittenPathAndQuery is { } rewritten)
        {
            proxyRequest.RequestUri = new Uri(destinationPrefix + rewritten, UriKind.Absolute);
        }
        else if (ctx is not null && ctx.PathAndQuery.StartsWith('/'))
        {
            // The normalised path that routing and RBAC saw, not Kestrel's own decoding of the raw target.
            proxyRequest.RequestUri = new Uri(destinationPrefix + ctx.PathAndQuery, UriKind.Absolute);
        }

        ctx?.Telemetry.Hooks?.OnUpstreamRequest(ctx, proxyRequest);
    }

    public override async ValueTask<bool> TransformResponseAsync(
        HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var proceed = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        var ctx = httpContext.Features.Get<ProxyContext>();
        if (ctx is null || proxyResponse is null)
        {
            return proceed;
        }

        ctx.FirstByteTimestamp = ctx.Time.GetTimestamp();
        ctx.Telemetry.Hooks?.OnUpstreamResponse(ctx, httpContext.Response);
        var upstreamMs = (long)ctx.Time.GetElapsedTime(ctx.UpstreamStartTimestamp, ctx.FirstByteTimestamp).TotalMilliseconds;
        httpContext.Response.Headers["x-envoy-upstream-service-time"] = upstreamMs.ToString(CultureInfo.InvariantCulture);
        LocalReply.ApplyRouteResponseHeaders(ctx);
        if ((int)proxyResponse.StatusCode == StatusCodes.Status101SwitchingProtocols)
        {
            // Envoy stops the route timeout once an upgrade succeeds; the tunnel then lives until either side closes.
            ctx.Deadline?.CancelAfter(Timeout.InfiniteTimeSpan);
        }

        return proceed;
    }
}
