using System.Text;

namespace Skein.Proxy.Protocol;

/// <summary>Envoy's response flags, in Envoy's order; formatted with its short codes (<c>UF,URX</c>).</summary>
[Flags]
internal enum ResponseFlags : long
{
    None = 0,

    /// <summary>LH: failed local health check.</summary>
    FailedLocalHealthCheck = 1L << 0,

    /// <summary>UH: no healthy upstream host.</summary>
    NoHealthyUpstream = 1L << 1,

    /// <summary>UT: upstream request timeout.</summary>
    UpstreamRequestTimeout = 1L << 2,

    /// <summary>LR: connection local reset.</summary>
    LocalReset = 1L << 3,

    /// <summary>UR: upstream remote reset.</summary>
    UpstreamRemoteReset = 1L << 4,

    /// <summary>UF: upstream connection failure.</summary>
    UpstreamConnectionFailure = 1L << 5,

    /// <summary>UC: upstream connection termination.</summary>
    UpstreamConnectionTermination = 1L << 6,

    /// <summary>UO: upstream overflow (circuit breaking).</summary>
    UpstreamOverflow = 1L << 7,

    /// <summary>NR: no route configured.</summary>
    NoRouteFound = 1L << 8,

    /// <summary>DI: request delayed by fault injection.</summary>
    DelayInjected = 1L << 9,

    /// <summary>FI: request aborted by fault injection.</summary>
    FaultInjected = 1L << 10,

    /// <summary>RL: rate limited locally.</summary>
    RateLimited = 1L << 11,

    /// <summary>UAEX: denied by an external authorization service.</summary>
    UnauthorizedExternalService = 1L << 12,

    /// <summary>RLSE: rate limit service error.</summary>
    RateLimitServiceError = 1L << 13,

    /// <summary>DC: downstream connection termination.</summary>
    DownstreamConnectionTermination = 1L << 14,

    /// <summary>URX: retry limit (or connect attempts) exceeded.</summary>
    UpstreamRetryLimitExceeded = 1L << 15,

    /// <summary>SI: stream idle timeout.</summary>
    StreamIdleTimeout = 1L << 16,

    /// <summary>IH: invalid Envoy request headers.</summary>
    InvalidEnvoyRequestHeaders = 1L << 17,

    /// <summary>DPE: downstream protocol error.</summary>
    DownstreamProtocolError = 1L << 18,

    /// <summary>UMSDR: upstream max stream duration reached.</summary>
    UpstreamMaxStreamDurationReached = 1L << 19,

    /// <summary>NFCF: no filter config found.</summary>
    NoFilterConfigFound = 1L << 20,

    /// <summary>DT: request or connection duration timeout.</summary>
    DurationTimeout = 1L << 21,

    /// <summary>UPE: upstream protocol error.</summary>
    UpstreamProtocolError = 1L << 22,

    /// <summary>NC: no cluster found.</summary>
    NoClusterFound = 1L << 23,

    /// <summary>DF: DNS resolution failed.</summary>
    DnsResolutionFailed = 1L << 24,

    /// <summary>DR: downstream remote reset.</summary>
    DownstreamRemoteReset = 1L << 25,

    /// <summary>RBAC: denied by the RBAC filter (Skein reports it as its own flag, as its design asks).</summary>
    RbacDenied = 1L << 26,
}

/// <summary>Formats <see cref="ResponseFlags"/> the way Envoy's access log does.</summary>
internal static class ResponseFlagsFormatter
{
    private static readonly string[] Codes =
    [
        "LH", "UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "DI", "FI", "RL", "UAEX", "RLSE", "DC", "URX", "SI",
        "IH", "DPE", "UMSDR", "NFCF", "DT", "UPE", "NC", "DF", "DR", "RBAC",
    ];

    /// <summary>Returns the short codes joined by ',' (e.g. <c>UF,URX</c>), or <c>-</c> when no flag is set.</summary>
    public static string Format(ResponseFlags flags)
    {
        if (flags == ResponseFlags.None)
        {
            return "-";
        }

        var value = (long)flags;
        if ((value & (value - 1)) == 0)
        {
            return Codes[System.Numerics.BitOperations.TrailingZeroCount(value)];
        }

        var sb = new StringBuilder();
        for (var i = 0; i < Codes.Length; i++)
        {
            if ((value & (1L << i)) != 0)
            {
                if (sb.Length > 0)
                {
                    sb.Append(',');
                }

                sb.Append(Codes[i]);
            }
        }

        return sb.ToString();
    }

    /// <summary>Parses a formatted value back (for tests and tools); unknown codes are ignored.</summary>
    public static ResponseFlags Parse(string text)
    {
        var flags = ResponseFlags.None;
        foreach (var part in text.Split(','))
        {
            var i = Array.IndexOf(Codes, part.Trim());
            if (i >= 0)
            {
                flags |= (ResponseFlags)(1L << i);
            }
        }

        return flags;
    }
}
