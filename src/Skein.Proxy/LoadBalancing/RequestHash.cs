using System.Collections.Immutable;
using System.Globalization;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.LoadBalancing;

/// <summary>The request hash of a route's hash policies (Envoy's rules: combine each policy's hash, stop at a terminal one that produced a value).</summary>
internal static class RequestHash
{
    public static ulong? Compute(ProxyContext ctx, ImmutableArray<HashPolicyRuntime> policies)
    {
        ulong? hash = null;
        foreach (var p in policies)
        {
            var value = p.Kind switch
            {
                HashPolicyKind.Header => ctx.Http.Request.Headers[p.Name].ToString(),
                HashPolicyKind.Cookie => Cookie(ctx, p),
                HashPolicyKind.SourceIp => SourceIp(ctx),
                HashPolicyKind.QueryParameter => ctx.Http.Request.Query[p.Name].ToString(),
                _ => null,
            };
            if (string.IsNullOrEmpty(value))
            {
                continue;
            }

            if (p.Rewrite is { } rewrite)
            {
                value = rewrite.Pattern.Replace(value, rewrite.Substitution);
            }

            var h = Fnv(value);
            hash = hash is { } previous ? ((previous << 1) | (previous >> 63)) ^ h : h;
            if (p.Terminal)
            {
                break;
            }
        }

        return hash;
    }

    /// <summary>The downstream address (IPv4-mapped addresses as IPv4), without the port.</summary>
    private static string? SourceIp(ProxyContext ctx) =>
        ctx.Connection.RemoteEndPoint?.Address is { } a ? (a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).ToString() : null;

    /// <summary>
    /// The cookie's value; when the request has none and the policy has a TTL, Envoy generates one from the
    /// connection's addresses, hashes on it and sets it on the response (<c>name="value"; Max-Age=ttl; Path=path;
    /// HttpOnly</c>, no Max-Age for a 0s TTL, a session cookie), so the client sticks from its next request on.
    /// </summary>
    private static string? Cookie(ProxyContext ctx, HashPolicyRuntime p)
    {
        var value = ctx.Http.Request.Cookies[p.Name];
        if (!string.IsNullOrEmpty(value))
        {
            // Envoy hashes the value without the quotes it wraps generated values in.
            return value.Length >= 2 && value[0] == '"' && value[^1] == '"' ? value[1..^1] : value;
        }

        if (p.CookieTtl is not { } ttl)
        {
            return null;
        }

        var seed = string.Concat(ctx.Connection.RemoteEndPoint?.ToString(), ctx.Connection.LocalEndPoint?.ToString());
        var generated = Fnv(seed).ToString("x16", CultureInfo.InvariantCulture);
        var cookie = $"{p.Name}=\"{generated}\"";
        if (ttl > TimeSpan.Zero)
        {
            cookie += "; Max-Age=" + ((long)ttl.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        }

        if (!string.IsNullOrEmpty(p.CookiePath))
        {
            cookie += "; Path=" + p.CookiePath;
        }

        cookie += "; HttpOnly";
        var response = ctx.Http.Response;
        response.OnStarting(
            static state =>
            {
                var (r, c) = ((Microsoft.AspNetCore.Http.HttpResponse, string))state;
                r.Headers.Append("set-cookie", c);
                return Task.CompletedTask;
            },
            (response, cookie));
        return generated;
    }

    private static ulong Fnv(string s)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in s)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return hash;
    }
}
