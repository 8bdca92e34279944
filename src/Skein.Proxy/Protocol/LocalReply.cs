using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Skein.Proxy.Protocol;

/// <summary>
/// Responses the proxy makes itself (no route, no healthy upstream, timeouts, faults, denials), shaped as Envoy
/// shapes them: a plain-text body for HTTP, a trailers-only response with <c>grpc-status</c> for gRPC.
/// </summary>
internal static class LocalReply
{
    /// <summary>Sends a local reply, or aborts the stream when the response has already started.</summary>
    public static async ValueTask SendAsync(
        ProxyContext ctx, int status, ResponseFlags flags, string details, string body, int? grpcStatus = null)
    {
        ctx.Flags |= flags;
        ctx.ResponseCodeDetails ??= details;
        var response = ctx.Http.Response;
        if (response.HasStarted)
        {
            ctx.Http.Abort();
            return;
        }

        response.Clear();
        if (ctx.IsGrpc)
        {
            // gRPC clients read errors from grpc-status; a headers-only response carries it (trailers-only).
            response.StatusCode = 200;
            response.ContentType = "application/grpc";
            response.Headers["grpc-status"] = (grpcStatus ?? GrpcStatusFor(status)).ToString(CultureInfo.InvariantCulture);
            if (body.Length > 0)
            {
                response.Headers["grpc-message"] = Uri.EscapeDataString(body);
            }

            ApplyRouteResponseHeaders(ctx);
            ctx.StatusCode = 200;
            return;
        }

        response.StatusCode = status;
        ctx.StatusCode = status;
        ApplyRouteResponseHeaders(ctx);
        if (body.Length > 0)
        {
            response.ContentType = "text/plain";
            var bytes = Encoding.UTF8.GetBytes(body);
            response.ContentLength = bytes.Length;
            if (!HttpMethods.IsHead(ctx.Http.Request.Method))
            {
                await response.Body.WriteAsync(bytes, ctx.Http.RequestAborted).ConfigureAwait(false);
            }
        }
        else
        {
            response.ContentLength = 0;
        }
    }

    /// <summary>Applies response header mutations of the matched route, its virtual host and route table.</summary>
    public static void ApplyRouteResponseHeaders(ProxyContext ctx)
    {
        var headers = ctx.Http.Response.Headers;
        ctx.ClusterChoice?.ResponseHeaders.ApplyTo(headers);
        if (ctx.Route is { } route)
        {
            route.ResponseHeaders.ApplyTo(headers);
            route.VirtualHost.ResponseHeaders.ApplyTo(headers);
            route.VirtualHost.Table.ResponseHeaders.ApplyTo(headers);
        }
    }

    /// <summary>Envoy's HTTP to gRPC status mapping for local replies.</summary>
    public static int GrpcStatusFor(int httpStatus) => httpStatus switch
    {
        400 => 13, // INTERNAL
        401 => 16, // UNAUTHENTICATED
        403 => 7, // PERMISSION_DENIED
        404 => 12, // UNIMPLEMENTED
        429 or 502 or 503 or 504 => 14, // UNAVAILABLE
        _ => 2, // UNKNOWN
    };
}
