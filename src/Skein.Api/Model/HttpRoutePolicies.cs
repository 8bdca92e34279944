using System.Globalization;

namespace Skein.Api.Model;

// The per-route HTTP policies of a VirtualService: redirect, direct response, rewrite,
// retries, CORS, fault injection and mirroring.

/// <summary>Answer with a redirect (301 unless redirectCode says otherwise).</summary>
[OneOf(nameof(Port), nameof(DerivePort))]
public sealed record HttpRedirect : IValidatable
{
    /// <summary>Replace the whole path with this value.</summary>
    public string? Uri { get; init; }

    /// <summary>Replace the authority (host) with this value.</summary>
    public string? Authority { get; init; }

    /// <summary>Replace the port with this value.</summary>
    [Range(1, 65535)]
    public int? Port { get; init; }

    /// <summary>Choose the port automatically: the scheme's default or the request's port.</summary>
    public RedirectPortSelection? DerivePort { get; init; }

    /// <summary>Replace the scheme: http or https.</summary>
    public string? Scheme { get; init; }

    /// <summary>The redirect status code, 3xx; 301 by default.</summary>
    [Range(300, 399)]
    public int? RedirectCode { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Uri is null && Authority is null && Port is null && DerivePort is null && Scheme is null)
        {
            context.Error("", "a redirect must set at least one of uri, authority, port, derivePort or scheme");
        }

        if (Scheme is not null and not ("http" or "https"))
        {
            context.Error("scheme", "must be \"http\" or \"https\"");
        }
    }
}

/// <summary>How a redirect picks its port.</summary>
public enum RedirectPortSelection
{
    /// <summary>80 for http, 443 for https.</summary>
    FromProtocolDefault,

    /// <summary>The port of the request.</summary>
    FromRequestPort,
}

/// <summary>Answer with a fixed status and body instead of forwarding.</summary>
public sealed record HttpDirectResponse
{
    /// <summary>The HTTP status to return (200-599).</summary>
    [Required, Range(200, 599)]
    public int? Status { get; init; }

    /// <summary>The response body; no body when omitted.</summary>
    public HttpBody? Body { get; init; }
}

/// <summary>A response body, as text or as base64-encoded bytes.</summary>
[OneOf(nameof(String), nameof(Bytes))]
public sealed record HttpBody : IValidatable
{
    private const int MaxBodyBytes = 1024 * 1024;

    /// <summary>The body as text.</summary>
    public string? String { get; init; }

    /// <summary>The body as base64-encoded bytes (for binary protocols such as gRPC).</summary>
    public string? Bytes { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        var size = 0;
        if (String is not null)
        {
            size = System.Text.Encoding.UTF8.GetByteCount(String);
        }
        else if (Bytes is not null)
        {
            var buffer = new byte[Bytes.Length];
            if (Convert.TryFromBase64String(Bytes, buffer, out var written))
            {
                size = written;
            }
            else
            {
                context.Error("bytes", "must be base64-encoded");
            }
        }

        if (size > MaxBodyBytes)
        {
            context.Warning("", "a direct response body larger than 1MB slows down configuration updates");
        }
    }
}

/// <summary>Rewrite the path or authority before forwarding.</summary>
[OneOf(nameof(Uri), nameof(UriRegexRewrite))]
public sealed record HttpRewrite : IValidatable
{
    /// <summary>Replaces the path; with a prefix match, replaces only the matched prefix.</summary>
    public string? Uri { get; init; }

    /// <summary>Replaces the authority (Host header).</summary>
    public string? Authority { get; init; }

    /// <summary>Rewrites the path with a regex and a substitution.</summary>
    public RegexRewrite? UriRegexRewrite { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Uri is null && Authority is null && UriRegexRewrite is null)
        {
            context.Error("", "a rewrite must set at least one of uri, uriRegexRewrite or authority");
        }
    }
}

/// <summary>A regex rewrite of the path: every match of match is replaced by rewrite.</summary>
public sealed record RegexRewrite : IValidatable
{
    /// <summary>An RE2 regular expression.</summary>
    [Format(ValueFormat.Regex)]
    public string? Match { get; init; }

    /// <summary>The replacement; \1, \2 … refer to capture groups.</summary>
    public string? Rewrite { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (string.IsNullOrEmpty(Match))
        {
            context.Error("match", "is required");
        }

        if (Rewrite is null)
        {
            context.Error("rewrite", "is required");
        }
    }
}

/// <summary>When and how often a failed request is retried.</summary>
public sealed record HttpRetry : IValidatable
{
    /// <summary>
    /// Conditions Istio accepts in retryOn: Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on
    /// policies. Numbers (HTTP status codes) are accepted too.
    /// </summary>
    internal static readonly IReadOnlySet<string> RetryOnConditions = new HashSet<string>(StringComparer.Ordinal)
    {
        "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "envoy-ratelimited",
        "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers",
        "http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal",
        "resource-exhausted", "unavailable",
    };

    /// <summary>How many times to retry; 0 disables retries. Total requests are at most 1 + attempts.</summary>
    [Range(0, int.MaxValue)]
    public int? Attempts { get; init; }

    /// <summary>Timeout for each attempt, including the first; at least 1ms.</summary>
    public Duration? PerTryTimeout { get; init; }

    /// <summary>
    /// Comma-separated conditions that trigger a retry, e.g. "gateway-error,connect-failure,503".
    /// Status codes are added to retriable-status-codes.
    /// </summary>
    public string? RetryOn { get; init; }

    /// <summary>Whether retries may go to endpoints in other localities.</summary>
    public bool? RetryRemoteLocalities { get; init; }

    /// <summary>Whether retries avoid hosts already tried (true by default).</summary>
    public bool? RetryIgnorePreviousHosts { get; init; }

    /// <summary>The base interval between retries (25ms by default).</summary>
    public Duration? Backoff { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Attempts == 0 && (PerTryTimeout is not null || RetryOn is not null || RetryRemoteLocalities is not null ||
            RetryIgnorePreviousHosts is not null || Backoff is not null))
        {
            context.Error("attempts", "retry settings have no effect when attempts is 0 (retries disabled)");
        }

        ModelRules.AtLeastOneMillisecond(context, "perTryTimeout", PerTryTimeout);
        ModelRules.AtLeastOneMillisecond(context, "backoff", Backoff);

        if (RetryOn is null)
        {
            return;
        }

        foreach (var condition in RetryOn.Split(','))
        {
            if (int.TryParse(condition, NumberStyles.None, CultureInfo.InvariantCulture, out var status))
            {
                if (status is < 100 or > 599)
                {
                    context.Error("retryOn", $"\"{condition}\" is not a valid HTTP status code");
                }
            }
            else if (!RetryOnConditions.Contains(condition))
            {
                context.Error("retryOn", $"unknown retryOn condition \"{condition}\"");
            }
        }
    }
}

/// <summary>Cross-origin resource sharing (CORS) policy.</summary>
public sealed record CorsPolicy : IValidatable
{
    private static readonly HashSet<string> Methods = new(StringComparer.Ordinal)
    {
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "*",
    };

    /// <summary>Deprecated: exact origins; use allowOrigins.</summary>
    public IReadOnlyList<string>? AllowOrigin { get; init; }

    /// <summary>Origins allowed to make CORS requests; the matched origin is echoed back.</summary>
    public IReadOnlyList<StringMatch>? AllowOrigins { get; init; }

    /// <summary>Methods allowed (Access-Control-Allow-Methods).</summary>
    public IReadOnlyList<string>? AllowMethods { get; init; }

    /// <summary>Request headers allowed (Access-Control-Allow-Headers).</summary>
    public IReadOnlyList<string>? AllowHeaders { get; init; }

    /// <summary>Response headers the browser may read (Access-Control-Expose-Headers).</summary>
    public IReadOnlyList<string>? ExposeHeaders { get; init; }

    /// <summary>How long a preflight answer may be cached (Access-Control-Max-Age), in whole seconds.</summary>
    public Duration? MaxAge { get; init; }

    /// <summary>Whether requests may carry credentials (Access-Control-Allow-Credentials).</summary>
    public bool? AllowCredentials { get; init; }

    /// <summary>Whether preflights from origins that are not allowed are forwarded upstream (default) or ignored.</summary>
    public UnmatchedPreflights? UnmatchedPreflights { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        ModelRules.Deprecated(context, "allowOrigin", AllowOrigin is not null, "allowOrigins");
        for (var i = 0; i < (AllowOrigins?.Count ?? 0); i++)
        {
            StringMatch.RequireValue(context, ModelRules.Item("allowOrigins", i), AllowOrigins![i]);
        }

        for (var i = 0; i < (AllowMethods?.Count ?? 0); i++)
        {
            if (!Methods.Contains(AllowMethods![i]))
            {
                context.Error(ModelRules.Item("allowMethods", i), $"\"{AllowMethods[i]}\" is not a supported HTTP method (use upper case, e.g. GET)");
            }
        }

        CheckHeaders(context, "allowHeaders", AllowHeaders);
        CheckHeaders(context, "exposeHeaders", ExposeHeaders);

        ModelRules.AtLeastOneMillisecond(context, "maxAge", MaxAge);
        if (MaxAge is { } maxAge && maxAge.Value.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            context.Error("maxAge", "must be a whole number of seconds");
        }
    }

    private static void CheckHeaders(ValidationContext context, string field, IReadOnlyList<string>? headers)
    {
        for (var i = 0; i < (headers?.Count ?? 0); i++)
        {
            if (headers![i] != "*" && !ModelRules.IsHeaderToken(headers[i]))
            {
                context.Error(ModelRules.Item(field, i), $"\"{headers[i]}\" is not a valid header name");
            }
        }
    }
}

/// <summary>What happens to CORS preflight requests from origins that are not allowed.</summary>
public enum UnmatchedPreflights
{
    /// <summary>Not set: the same as Forward.</summary>
    Unspecified,

    /// <summary>Forward them to the destination.</summary>
    Forward,

    /// <summary>Do not forward them.</summary>
    Ignore,
}

/// <summary>Faults to inject on the client side: a delay, an abort, or both.</summary>
public sealed record HttpFaultInjection : IValidatable
{
    /// <summary>Delay requests before forwarding them.</summary>
    public FaultDelay? Delay { get; init; }

    /// <summary>Fail requests with an error instead of forwarding them.</summary>
    public FaultAbort? Abort { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Delay is null && Abort is null)
        {
            context.Error("", "a fault must set delay, abort or both");
        }
    }
}

/// <summary>Delay some requests before forwarding them.</summary>
[OneOf(nameof(FixedDelay), nameof(ExponentialDelay), Required = true)]
public sealed record FaultDelay : IValidatable
{
    /// <summary>Deprecated integer percentage; use percentage.</summary>
    [Range(0, 100)]
    public int? Percent { get; init; }

    /// <summary>How long to delay, at least 1ms.</summary>
    public Duration? FixedDelay { get; init; }

    /// <summary>An exponential delay (undocumented in Istio).</summary>
    public Duration? ExponentialDelay { get; init; }

    /// <summary>Share of requests to delay.</summary>
    public Percent? Percentage { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        ModelRules.AtLeastOneMillisecond(context, "fixedDelay", FixedDelay);
        ModelRules.AtLeastOneMillisecond(context, "exponentialDelay", ExponentialDelay);
        ModelRules.Deprecated(context, "percent", Percent is not null, "percentage");
        if (Percent is not null && Percentage is not null)
        {
            context.Error("percent", "cannot be combined with percentage");
        }
    }
}

/// <summary>Fail some requests with an HTTP status, a gRPC status or an HTTP/2 error.</summary>
[OneOf(nameof(HttpStatus), nameof(GrpcStatus), nameof(Http2Error), Required = true)]
public sealed record FaultAbort : IValidatable
{
    /// <summary>gRPC status names Istio accepts for grpcStatus.</summary>
    internal static readonly IReadOnlySet<string> GrpcStatusNames = new HashSet<string>(StringComparer.Ordinal)
    {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    };

    /// <summary>The HTTP status to return (200-599).</summary>
    [Range(200, 599)]
    public int? HttpStatus { get; init; }

    /// <summary>The gRPC status to return, by name in capitals (e.g. UNAVAILABLE, not 14).</summary>
    public string? GrpcStatus { get; init; }

    /// <summary>An HTTP/2 error to return (undocumented in Istio).</summary>
    public string? Http2Error { get; init; }

    /// <summary>Share of requests to abort.</summary>
    public Percent? Percentage { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (GrpcStatus is not null && !GrpcStatusNames.Contains(GrpcStatus))
        {
            context.Error("grpcStatus", $"unknown gRPC status \"{GrpcStatus}\": must be a status name such as UNAVAILABLE");
        }
    }
}

/// <summary>A destination to copy requests to, and how many.</summary>
public sealed record HttpMirrorPolicy
{
    /// <summary>Where to send the copies.</summary>
    [Required]
    public Destination? Destination { get; init; }

    /// <summary>Share of requests to copy; 100% when absent.</summary>
    public Percent? Percentage { get; init; }
}
