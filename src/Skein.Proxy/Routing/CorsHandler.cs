using Microsoft.AspNetCore.Http;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.Routing;

/// <summary>
/// Envoy's CORS policy, applied by the router before the route's action: requests without an allowed
/// <c>Origin</c> pass untouched (so do preflights from other origins: Istio's default is to forward them); a
/// preflight (<c>OPTIONS</c> with <c>Access-Control-Request-Method</c>) from an allowed origin is answered here
/// with 200 and the allowed methods, headers and max age; other requests from an allowed origin get
/// <c>Access-Control-Allow-Origin</c> (the origin itself), credentials and exposed headers on their response,
/// including local replies.
/// </summary>
internal static class CorsHandler
{
    /// <summary>Applies <paramref name="cors"/>; true when a preflight was answered and the request is done.</summary>
    public static bool Apply(ProxyContext ctx, CorsPolicyRuntime cors, IRandomSource random)
    {
        if (cors.FilterEnabled is { } enabled && !enabled.Roll(random))
        {
            return false;
        }

        var request = ctx.Http.Request;
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0 || !IsAllowed(cors, origin))
        {
            return false;
        }

        var response = ctx.Http.Response;
        if (HttpMethods.IsOptions(request.Method) && request.Headers.ContainsKey("access-control-request-method"))
        {
            response.StatusCode = StatusCodes.Status200OK;
            ctx.StatusCode = StatusCodes.Status200OK;
            ctx.ResponseCodeDetails = "cors_response";
            var headers = response.Headers;
            headers.AccessControlAllowOrigin = origin;
            if (cors.AllowCredentials)
            {
                headers.AccessControlAllowCredentials = "true";
            }

            if (cors.AllowMethods.Length > 0)
            {
                headers.AccessControlAllowMethods = cors.AllowMethods;
            }

            if (cors.AllowHeaders.Length > 0)
            {
                headers.AccessControlAllowHeaders = cors.AllowHeaders;
            }

            if (cors.MaxAge.Length > 0)
            {
                headers.AccessControlMaxAge = cors.MaxAge;
            }

            response.ContentLength = 0;
            return true;
        }

        response.OnStarting(
            static state =>
            {
                var (r, o, c) = ((HttpResponse, string, CorsPolicyRuntime))state;
                r.Headers.AccessControlAllowOrigin = o;
                if (c.AllowCredentials)
                {
                    r.Headers.AccessControlAllowCredentials = "true";
                }

                if (c.ExposeHeaders.Length > 0)
                {
                    r.Headers.AccessControlExposeHeaders = c.ExposeHeaders;
                }

                return Task.CompletedTask;
            },
            (response, origin, cors));
        return false;
    }

    private static bool IsAllowed(CorsPolicyRuntime cors, string origin)
    {
        foreach (var m in cors.AllowOrigins)
        {
            if ((m.Kind == StringMatchKind.Exact && m.Value == "*") || m.Matches(origin))
            {
                return true;
            }
        }

        return false;
    }
}
