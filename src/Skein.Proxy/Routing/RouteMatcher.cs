using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.Routing;

/// <summary>Selects the virtual host and the route of a request exactly as Envoy does.</summary>
internal static class RouteMatcher
{
    /// <summary>
    /// Virtual host for <paramref name="authority"/> (port included as sent): exact domain first, then suffix
    /// wildcards (<c>*.x</c>), then prefix wildcards (<c>x.*</c>), longest wildcard first, then <c>*</c>.
    /// </summary>
    public static VirtualHostRuntime? SelectVirtualHost(RouteTable table, string authority)
    {
        if (table.ExactDomains.TryGetValue(authority, out var host))
        {
            return host;
        }

        foreach (var (suffix, vh) in table.SuffixDomains)
        {
            if (authority.Length > suffix.Length && authority.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                return vh;
            }
        }

        foreach (var (prefix, vh) in table.PrefixDomains)
        {
            if (authority.Length > prefix.Length && authority.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                return vh;
            }
        }

        return table.DefaultHost;
    }

    /// <summary>The first route of <paramref name="host"/> that matches the request, or null.</summary>
    public static RouteRuntime? Match(VirtualHostRuntime host, ProxyContext ctx, IRandomSource random)
    {
        foreach (var route in host.Routes)
        {
            if (Matches(route.Match, ctx, random))
            {
                return route;
            }
        }

        return null;
    }

    private static bool Matches(RouteMatchRuntime m, ProxyContext ctx, IRandomSource random)
    {
        var full = ctx.PathAndQuery.AsSpan();
        var comparison = m.CaseSensitive ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
        switch (m.PathKind)
        {
            case PathMatchKind.Prefix:
                if (!full.StartsWith(m.PathValue, comparison))
                {
                    return false;
                }

                break;
            case PathMatchKind.Exact:
                if (!PathOnly(full).Equals(m.PathValue, comparison))
                {
                    return false;
                }

                break;
            default:
                if (!m.PathRegex!.IsMatch(PathOnly(full)))
                {
                    return false;
                }

                break;
        }

        var request = ctx.Http.Request;
        if (m.GrpcOnly && !ctx.IsGrpc)
        {
            return false;
        }

        foreach (var h in m.Headers)
        {
            if (!h.Matches(HeaderValue(ctx, h.Name)))
            {
                return false;
            }
        }

        if (!m.QueryParameters.IsEmpty)
        {
            var query = request.Query;
            foreach (var q in m.QueryParameters)
            {
                string? value = query.TryGetValue(q.Name, out var values) ? (values.Count > 0 ? values[0] ?? string.Empty : string.Empty) : null;
                if (!q.Matches(value))
                {
                    return false;
                }
            }
        }

        return m.RuntimeFraction is null || m.RuntimeFraction.Roll(random);
    }

    /// <summary>The path without query string or fragment.</summary>
    public static ReadOnlySpan<char> PathOnly(ReadOnlySpan<char> pathAndQuery)
    {
        var q = pathAndQuery.IndexOfAny('?', '#');
        return q < 0 ? pathAndQuery : pathAndQuery[..q];
    }

    /// <summary>A request header as Envoy's matchers see it: pseudo headers mapped, repeated values joined with ','.</summary>
    public static string? HeaderValue(ProxyContext ctx, string name)
    {
        var request = ctx.Http.Request;
        if (name.Length > 0 && name[0] == ':')
        {
            return name switch
            {
                ":method" => request.Method,
                ":path" => ctx.PathAndQuery,
                ":authority" => ctx.Authority,
                ":scheme" => request.Scheme,
                _ => null,
            };
        }

        if (!request.Headers.TryGetValue(name, out var values) || values.Count == 0)
        {
            return null;
        }

        return values.Count == 1 ? values[0] : string.Join(',', (IEnumerable<string?>)values);
    }
}
