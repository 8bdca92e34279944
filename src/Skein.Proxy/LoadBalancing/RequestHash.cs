using System.Collections.Immutable;
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
                HashPolicyKind.Cookie => ctx.Http.Request.Cookies[p.Name],
                HashPolicyKind.SourceIp => ctx.Connection.RemoteEndPoint?.Address.ToString(),
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
