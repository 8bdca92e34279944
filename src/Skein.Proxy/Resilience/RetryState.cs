using System.Globalization;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;
using Yarp.ReverseProxy.Forwarder;

namespace Skein.Proxy.Resilience;

/// <summary>The answer to "retry this attempt?" (Envoy's RetryStatus).</summary>
internal enum RetryDecision
{
    /// <summary>The outcome is not retriable (or retries are disabled for this request).</summary>
    No,

    /// <summary>Retry: a retry slot is held until the next decision.</summary>
    Yes,

    /// <summary>Retriable, but the policy's retries are used up: the response gets URX.</summary>
    LimitExceeded,

    /// <summary>Retriable, but the retry budget or <c>max_retries</c> is full: the response gets UO.</summary>
    Overflow,
}

/// <summary>Why an upstream attempt failed without a response.</summary>
internal enum AttemptFailure
{
    ConnectFailure,
    RefusedStream,
    Reset,
    PerTryTimeout,
}

/// <summary>
/// One request's retry state, and the YARP transformer of its attempts: when response headers arrive it decides
/// whether the response is retriable (status, gRPC status, retriable headers) before anything is copied to the
/// client, so a retried response is simply dropped. Holds the retry slot (budget) between a retry decision and
/// the next one, the hosts already tried, and the per-try timer, which stops once a response is passed on.
/// </summary>
internal sealed class RetryState : HttpTransformer
{
    private readonly ClusterRuntime _cluster;
    private readonly IRandomSource _random;
    private readonly ProxyContext _ctx;
    private readonly ReplayableRequestBody? _body;
    private UpstreamEndpoint[]? _tried;
    private int _triedCount;
    private int _retriesRemaining;
    private bool _holdsRetry;
    private int _backoffExponent = 1;

    public RetryState(RetryPolicyRuntime policy, ProxyContext ctx, ClusterRuntime cluster, ReplayableRequestBody? body, IRandomSource random)
    {
        Policy = policy;
        _ctx = ctx;
        _cluster = cluster;
        _body = body;
        _random = random;
        _retriesRemaining = Math.Max(0, policy.NumRetries);
    }

    public RetryPolicyRuntime Policy { get; }

    /// <summary>1 for the first attempt, then one more per retry (sent as <c>x-envoy-attempt-count</c>).</summary>
    public int Attempt { get; private set; } = 1;

    /// <summary>Set by the transformer when the response of the current attempt was dropped to be retried.</summary>
    public bool ResponseRetried { get; private set; }

    /// <summary>The status of the dropped response (for outlier detection and statistics).</summary>
    public int RetriedStatus { get; private set; }

    /// <summary>The current attempt's per-try timer (stopped once a response is passed on).</summary>
    public CancellationTokenSource? AttemptTimer { get; set; }

    /// <summary>Marks the start of an attempt on <paramref name="endpoint"/>.</summary>
    public void StartAttempt(UpstreamEndpoint endpoint)
    {
        ResponseRetried = false;
        RetriedStatus = 0;
        _tried ??= new UpstreamEndpoint[Math.Max(1, Policy.NumRetries + 1)];
        if (_triedCount < _tried.Length)
        {
            _tried[_triedCount++] = endpoint;
        }
    }

    /// <summary>True when previous_hosts applies and <paramref name="endpoint"/> was already tried.</summary>
    public bool WasTried(UpstreamEndpoint endpoint)
    {
        if (!Policy.AvoidPreviousHosts || _tried is null)
        {
            return false;
        }

        for (var i = 0; i < _triedCount; i++)
        {
            if (ReferenceEquals(_tried[i], endpoint) || _tried[i].Address == endpoint.Address)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Decides on an attempt that failed without a response.</summary>
    public RetryDecision OnFailure(AttemptFailure failure)
    {
        var c = Policy.Conditions;
        var would = failure switch
        {
            AttemptFailure.ConnectFailure => (c & (RetryConditions.ConnectFailure | RetryConditions.ServerError | RetryConditions.GatewayError
                | RetryConditions.Reset | RetryConditions.ResetBeforeRequest)) != 0,
            AttemptFailure.RefusedStream => (c & (RetryConditions.RefusedStream | RetryConditions.ServerError | RetryConditions.GatewayError
                | RetryConditions.Reset)) != 0,
            _ => (c & (RetryConditions.ServerError | RetryConditions.GatewayError | RetryConditions.Reset)) != 0,
        };
        return Decide(would);
    }

    /// <summary>Gives up any retry slot still held (the request is over).</summary>
    public void Finish()
    {
        if (_holdsRetry)
        {
            _holdsRetry = false;
            _cluster.FinishRetry();
        }
    }

    /// <summary>Prepares the next attempt: the body from the start, a clean response, one attempt more.</summary>
    public void PrepareNextAttempt()
    {
        Attempt++;
        _body?.Rewind();
        var response = _ctx.Http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        if (_ctx.Http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseFeature>() is { } feature)
        {
            feature.ReasonPhrase = null;
        }

        _ctx.Http.Features.Set<IForwarderErrorFeature>(null);
    }

    /// <summary>
    /// Envoy's fully jittered exponential back-off: retry N waits a random time in [0, (2^N - 1) × base), capped
    /// at the maximum interval (10 × base unless configured).
    /// </summary>
    public TimeSpan NextBackOff()
    {
        var baseMs = Math.Max(1.0, Policy.BaseInterval.TotalMilliseconds);
        var upper = ((1L << Math.Min(_backoffExponent, 30)) - 1) * baseMs;
        if (upper <= Policy.MaxInterval.TotalMilliseconds)
        {
            _backoffExponent++;
        }

        var delay = Math.Min(_random.NextDouble() * upper, Policy.MaxInterval.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(delay);
    }

    public override ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken) =>
        Routing.ProxyTransformer.Instance.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);

    public override ValueTask TransformResponseTrailersAsync(HttpContext httpContext, HttpResponseMessage proxyResponse, CancellationToken cancellationToken) =>
        Routing.ProxyTransformer.Instance.TransformResponseTrailersAsync(httpContext, proxyResponse, cancellationToken);

    public override ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        if (proxyResponse is not null && (int)proxyResponse.StatusCode != StatusCodes.Status101SwitchingProtocols)
        {
            var status = (int)proxyResponse.StatusCode;
            switch (Decide(WouldRetry(proxyResponse, status)))
            {
                case RetryDecision.Yes:
                    ResponseRetried = true;
                    RetriedStatus = status < 500 && GrpcStatus(proxyResponse.Headers) is { } g ? GrpcToHttp(g) : status;
                    return ValueTask.FromResult(false); // dropped: nothing reached the client
                case RetryDecision.LimitExceeded:
                    _ctx.Flags |= ResponseFlags.UpstreamRetryLimitExceeded;
                    break;
                case RetryDecision.Overflow:
                    _ctx.Flags |= ResponseFlags.UpstreamOverflow;
                    break;
            }

            // This response goes to the client: the per-try timeout only covers waiting for headers.
            AttemptTimer?.CancelAfter(Timeout.InfiniteTimeSpan);
        }

        return Routing.ProxyTransformer.Instance.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
    }

    private bool WouldRetry(HttpResponseMessage response, int status)
    {
        var c = Policy.Conditions;
        if (response.Headers.Contains("x-envoy-overloaded"))
        {
            return false; // an upstream proxy shed the load; retrying adds to it
        }

        if (response.Headers.Contains("x-envoy-ratelimited"))
        {
            return (c & RetryConditions.EnvoyRateLimited) != 0;
        }

        if ((c & RetryConditions.ServerError) != 0 && status >= 500)
        {
            return true;
        }

        if ((c & RetryConditions.GatewayError) != 0 && status is 502 or 503 or 504)
        {
            return true;
        }

        if ((c & RetryConditions.Retriable4xx) != 0 && status == 409)
        {
            return true;
        }

        if ((c & RetryConditions.RetriableStatusCodes) != 0 && Policy.RetriableStatusCodes.Contains(status))
        {
            return true;
        }

        if ((c & RetryConditions.RetriableHeaders) != 0 && !Policy.RetriableHeaders.IsEmpty && AnyHeaderMatches(response))
        {
            return true;
        }

        // gRPC errors come as trailers-only responses: grpc-status in the headers.
        const RetryConditions grpc = RetryConditions.GrpcCancelled | RetryConditions.GrpcDeadlineExceeded | RetryConditions.GrpcInternal
            | RetryConditions.GrpcResourceExhausted | RetryConditions.GrpcUnavailable;
        if ((c & grpc) != 0 && GrpcStatus(response.Headers) is { } code)
        {
            return code switch
            {
                1 => (c & RetryConditions.GrpcCancelled) != 0,
                4 => (c & RetryConditions.GrpcDeadlineExceeded) != 0,
                8 => (c & RetryConditions.GrpcResourceExhausted) != 0,
                13 => (c & RetryConditions.GrpcInternal) != 0,
                14 => (c & RetryConditions.GrpcUnavailable) != 0,
                _ => false,
            };
        }

        return false;
    }

    /// <summary>The <c>grpc-status</c> of a trailers-only response, if any.</summary>
    internal static int? GrpcStatus(HttpResponseHeaders headers) =>
        headers.NonValidated.TryGetValues("grpc-status", out var values)
        && int.TryParse(values.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var code)
            ? code
            : null;

    /// <summary>Envoy's gRPC to HTTP status mapping (for outlier detection of trailers-only gRPC errors).</summary>
    internal static int GrpcToHttp(int code) => code switch
    {
        0 => 200,
        1 => 499,
        3 or 9 or 11 => 400,
        4 => 504,
        5 => 404,
        6 or 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    };

    private bool AnyHeaderMatches(HttpResponseMessage response)
    {
        foreach (var m in Policy.RetriableHeaders)
        {
            var value = response.Headers.NonValidated.TryGetValues(m.Name, out var values) ? values.ToString() : null;
            if (m.Matches(value))
            {
                return true;
            }
        }

        return false;
    }

    private RetryDecision Decide(bool wouldRetry)
    {
        if (_holdsRetry)
        {
            // The retry that held the slot is over; when nothing more is retried Envoy counts it as a success.
            _holdsRetry = false;
            _cluster.FinishRetry();
            if (!wouldRetry)
            {
                _cluster.CountRetrySuccess();
            }
        }

        if (!wouldRetry)
        {
            return RetryDecision.No;
        }

        if (_retriesRemaining == 0)
        {
            _cluster.CountRetryLimitExceeded();
            return RetryDecision.LimitExceeded;
        }

        if (_body is not null && !_body.CanReplay)
        {
            return RetryDecision.No; // the body outgrew the buffer: it cannot be sent again
        }

        _retriesRemaining--;
        if (!_cluster.TryStartRetry())
        {
            return RetryDecision.Overflow;
        }

        _holdsRetry = true;
        return RetryDecision.Yes;
    }
}
