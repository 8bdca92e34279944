using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.Resilience;

/// <summary>Computes a request's overall deadline from the route timeout and the <c>grpc-timeout</c> header.</summary>
internal static class Deadlines
{
    /// <summary>
    /// The timeout for this request, or null for none. A gRPC request's <c>grpc-timeout</c> replaces the route
    /// timeout (capped by <c>max_stream_duration.grpc_timeout_header_max</c> when that is set and non-zero).
    /// </summary>
    public static TimeSpan? For(ProxyContext ctx, ForwardRouteAction action, out bool fromGrpcTimeout)
    {
        fromGrpcTimeout = false;
        if (ctx.IsGrpc && ctx.Http.Request.Headers.TryGetValue("grpc-timeout", out var v)
            && TryParseGrpcTimeout(v.ToString(), out var grpc))
        {
            fromGrpcTimeout = true;
            if (action.GrpcTimeoutHeaderMax is { } max && max > TimeSpan.Zero && grpc > max)
            {
                grpc = max;
            }

            return grpc;
        }

        var timeout = action.Timeout;
        if (ctx.Manager?.RequestTimeout is { } rt && (timeout is null || rt < timeout))
        {
            timeout = rt;
        }

        return action.MaxStreamDuration is { } msd && (timeout is null || msd < timeout) ? msd : timeout;
    }

    /// <summary>Parses <c>grpc-timeout</c>: up to 8 digits and a unit (H, M, S, m, u, n).</summary>
    public static bool TryParseGrpcTimeout(string text, out TimeSpan value)
    {
        value = default;
        if (text.Length is < 2 or > 9)
        {
            return false;
        }

        long n = 0;
        for (var i = 0; i < text.Length - 1; i++)
        {
            var c = text[i];
            if (c is < '0' or > '9')
            {
                return false;
            }

            n = (n * 10) + (c - '0');
        }

        value = text[^1] switch
        {
            'H' => TimeSpan.FromHours(n),
            'M' => TimeSpan.FromMinutes(n),
            'S' => TimeSpan.FromSeconds(n),
            'm' => TimeSpan.FromMilliseconds(n),
            'u' => TimeSpan.FromMicroseconds(n),
            'n' => TimeSpan.FromTicks(n / 100),
            _ => TimeSpan.MinValue,
        };
        return value != TimeSpan.MinValue;
    }
}
