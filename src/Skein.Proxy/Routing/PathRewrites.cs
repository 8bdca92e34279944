using System.Text;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.Routing;

/// <summary>Path rewrites (prefix and regex) and redirect locations, as Envoy computes them.</summary>
internal static class PathRewrites
{
    /// <summary>The path and query to send upstream after the route's rewrites, or null when nothing changes.</summary>
    public static string? Rewrite(ProxyContext ctx, RouteMatchRuntime match, string? prefixRewrite, RegexRewrite? regexRewrite)
    {
        var full = ctx.PathAndQuery;
        if (prefixRewrite is not null)
        {
            var cut = match.PathKind switch
            {
                PathMatchKind.Prefix => match.PathValue.Length,
                _ => RouteMatcher.PathOnly(full).Length,
            };
            return prefixRewrite + full[cut..];
        }

        if (regexRewrite is not null)
        {
            var pathLength = RouteMatcher.PathOnly(full).Length;
            return regexRewrite.Pattern.Replace(full[..pathLength], regexRewrite.Substitution) + full[pathLength..];
        }

        return null;
    }

    /// <summary>The <c>Location</c> of a redirect.</summary>
    public static string RedirectLocation(ProxyContext ctx, RedirectRouteAction r)
    {
        var request = ctx.Http.Request;
        var originalScheme = request.Headers.TryGetValue("x-forwarded-proto", out var xfp) && xfp.Count > 0 ? xfp[0]! : request.Scheme;
        var scheme = r.Scheme ?? originalScheme;

        var (host, port) = SplitAuthority(ctx.Authority);
        if (r.Host is not null)
        {
            (host, var redirectPort) = SplitAuthority(r.Host);
            port = redirectPort ?? port;
        }

        if (r.Port > 0)
        {
            port = r.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        else if (!string.Equals(scheme, originalScheme, StringComparison.OrdinalIgnoreCase) && port is "80" or "443")
        {
            port = null; // a scheme change drops the old scheme's default port
        }

        var full = ctx.PathAndQuery;
        var pathLength = RouteMatcher.PathOnly(full).Length;
        var path = full[..pathLength];
        var query = full[pathLength..];
        if (r.PathRedirect is not null)
        {
            var q = r.PathRedirect.IndexOf('?', StringComparison.Ordinal);
            if (q >= 0)
            {
                path = r.PathRedirect[..q];
                query = r.PathRedirect[q..];
            }
            else
            {
                path = r.PathRedirect;
            }
        }
        else if (r.PrefixRewrite is not null && ctx.Route is { } route)
        {
            var cut = route.Match.PathKind == PathMatchKind.Prefix ? Math.Min(route.Match.PathValue.Length, path.Length) : path.Length;
            path = r.PrefixRewrite + path[cut..];
        }
        else if (r.RegexRewrite is not null)
        {
            path = r.RegexRewrite.Pattern.Replace(path, r.RegexRewrite.Substitution);
        }

        if (r.StripQuery && (r.PathRedirect is null || !r.PathRedirect.Contains('?', StringComparison.Ordinal)))
        {
            query = string.Empty;
        }

        var sb = new StringBuilder(scheme.Length + host.Length + path.Length + query.Length + 10);
        sb.Append(scheme).Append("://").Append(host);
        if (port is not null)
        {
            sb.Append(':').Append(port);
        }

        return sb.Append(path).Append(query).ToString();
    }

    /// <summary>Splits <c>host[:port]</c> (IPv6 literals in brackets).</summary>
    public static (string Host, string? Port) SplitAuthority(string authority)
    {
        var colon = authority.LastIndexOf(':');
        var bracket = authority.LastIndexOf(']');
        return colon > bracket && colon >= 0 ? (authority[..colon], authority[(colon + 1)..]) : (authority, null);
    }
}
