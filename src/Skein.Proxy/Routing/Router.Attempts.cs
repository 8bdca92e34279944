using System.Globalization;
using Microsoft.AspNetCore.Http;
using Skein.Proxy.Protocol;
using Skein.Proxy.Resilience;
using Skein.Proxy.Runtime;
using Yarp.ReverseProxy.Forwarder;

namespace Skein.Proxy.Routing;

/// <summary>
/// The upstream attempts of one request. Every attempt, first or retry, takes the same path: pick an endpoint
/// (previous hosts avoided on retries), pass <c>max_requests</c> and the HTTP/1 connection pool limits, set the
/// per-attempt headers, forward with the cluster's client under the per-try and overall deadlines, then report
/// the result to outlier detection and the counters. The retry decision is made when response headers arrive
/// (<see cref="RetryState"/>) or when the attempt fails; between attempts the request waits the jittered back-off.
/// </summary>
internal sealed partial class Router
{
    private enum AttemptOutcome
    {
        Done,
        Retry,
    }

    private async ValueTask SendWithRetriesAsync(
        ProxyContext ctx, ForwardRouteAction action, ClusterEntry cluster, ulong? hash, RetryState? retry, bool fromGrpc)
    {
        while (await AttemptAsync(ctx, action, cluster, hash, retry, fromGrpc).ConfigureAwait(false) == AttemptOutcome.Retry)
        {
            var delay = retry!.NextBackOff();
            try
            {
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay, ctx.Time, ctx.Deadline?.Token ?? ctx.Http.RequestAborted).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                if (ctx.Http.RequestAborted.IsCancellationRequested)
                {
                    ctx.Flags |= ResponseFlags.DownstreamConnectionTermination;
                    return;
                }

                // The route timeout covers every attempt and the waits between them.
                await LocalReply.SendAsync(
                    ctx, 504, ResponseFlags.UpstreamRequestTimeout, "upstream_response_timeout", "upstream request timeout", fromGrpc ? 4 : null)
                    .ConfigureAwait(false);
                return;
            }

            retry.PrepareNextAttempt();
        }
    }

    private async ValueTask<AttemptOutcome> AttemptAsync(
        ProxyContext ctx, ForwardRouteAction action, ClusterEntry cluster, ulong? hash, RetryState? retry, bool fromGrpc)
    {
        var runtime = cluster.Runtime;
        var originalDestination = runtime.Settings.Discovery == DiscoveryKind.OriginalDestination;
        var endpoint = originalDestination ? OriginalDestinationEndpoint(ctx) : PickEndpoint(cluster, hash, retry);
        if (endpoint is not null && originalDestination && IsSelf(endpoint))
        {
            await LocalReply.SendAsync(ctx, 508, ResponseFlags.None, "passthrough_loop", "loop detected: the destination is this proxy").ConfigureAwait(false);
            return AttemptOutcome.Done;
        }

        if (endpoint is null)
        {
            runtime.CountNoHealthy();
            await LocalReply.SendAsync(ctx, 503, ResponseFlags.NoHealthyUpstream, "no_healthy_upstream", "no healthy upstream").ConfigureAwait(false);
            return AttemptOutcome.Done;
        }

        if (!runtime.TryStartRequest())
        {
            await OverflowAsync(ctx).ConfigureAwait(false);
            return AttemptOutcome.Done;
        }

        ctx.Endpoint = endpoint;
        var status = 0;
        var sent = false;
        var pooled = false;
        var timedOut = false;
        AttemptFailure? failure = null;
        CancellationTokenSource? attemptTimer = null;
        CancellationTokenRegistration deadlineLink = default;
        try
        {
            var version = UpstreamVersion(ctx, runtime.Settings.Http.Protocol);
            if (runtime.Pool is { } pool && version == 1)
            {
                // HTTP/1: one request per connection; past max_connections wait (up to max_pending), else overflow.
                switch (await pool.EnterAsync(ctx.Deadline?.Token ?? ctx.Http.RequestAborted).ConfigureAwait(false))
                {
                    case PoolEntry.Overflow:
                        runtime.CountOverflow();
                        await OverflowAsync(ctx).ConfigureAwait(false);
                        return AttemptOutcome.Done;
                    case PoolEntry.Canceled:
                        if (ctx.Http.RequestAborted.IsCancellationRequested)
                        {
                            ctx.Flags |= ResponseFlags.DownstreamConnectionTermination;
                        }
                        else
                        {
                            timedOut = true;
                            await LocalReply.SendAsync(
                                ctx, 504, ResponseFlags.UpstreamRequestTimeout, "upstream_response_timeout", "upstream request timeout", fromGrpc ? 4 : null)
                                .ConfigureAwait(false);
                        }

                        return AttemptOutcome.Done;
                }

                pooled = true;
            }

            retry?.StartAttempt(endpoint);
            endpoint.Stats.RequestStarted();
            sent = true;
            var headers = ctx.Http.Request.Headers;
            headers["x-envoy-attempt-count"] = (retry?.Attempt ?? 1).ToString(CultureInfo.InvariantCulture);
            if (action.AutoHostRewrite && action.HostRewriteLiteral is null)
            {
                headers.Host = endpoint.Address;
            }

            var token = ctx.Deadline?.Token ?? CancellationToken.None;
            if (retry?.Policy.PerTryTimeout is { } perTry)
            {
                attemptTimer = new CancellationTokenSource(perTry, ctx.Time);
                if (ctx.Deadline is { } deadline)
                {
                    deadlineLink = deadline.Token.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), attemptTimer);
                }

                retry.AttemptTimer = attemptTimer;
                token = attemptTimer.Token;
            }

            var config = RequestConfig(ctx, runtime.Settings.Http.Protocol, action.IdleTimeout ?? ctx.Manager?.StreamIdleTimeout);
            ctx.UpstreamStartTimestamp = ctx.Time.GetTimestamp();
            var error = await forwarder.SendAsync(
                ctx.Http, endpoint.HttpPrefix, runtime.Http, config, (HttpTransformer?)retry ?? ProxyTransformer.Instance, token).ConfigureAwait(false);
            if (error == ForwarderError.None)
            {
                var retried = retry?.ResponseRetried == true;
                status = retried ? retry!.RetriedStatus : ctx.Http.Response.StatusCode;
                if (runtime.Outlier is { } outlier)
                {
                    outlier.ReportLocalOrigin(endpoint, AttemptOrigin.ConnectSuccess);
                    outlier.ReportStatus(endpoint, retried ? status : OutlierStatus(status, ctx.Http.Response.Headers));
                }

                return retried ? AttemptOutcome.Retry : AttemptOutcome.Done;
            }

            var exception = ctx.Http.Features.Get<IForwarderErrorFeature>()?.Exception;
            var clientGone = ctx.Http.RequestAborted.IsCancellationRequested;
            var overall = ctx.Deadline?.IsCancellationRequested == true;
            var perTryFired = !overall && !clientGone && attemptTimer?.IsCancellationRequested == true;
            if (!clientGone && !ctx.Http.Response.HasStarted && !overall)
            {
                failure = perTryFired ? AttemptFailure.PerTryTimeout
                    : ForwarderErrors.IsConnectFailure(exception) ? AttemptFailure.ConnectFailure
                    : ForwarderErrors.IsRefusedStream(exception) ? AttemptFailure.RefusedStream
                    : error is ForwarderError.Request or ForwarderError.RequestBodyDestination or ForwarderError.ResponseHeaders ? AttemptFailure.Reset
                    : null;
            }

            timedOut = perTryFired || (overall && !clientGone) || (error is ForwarderError.RequestTimedOut && failure != AttemptFailure.ConnectFailure);
            if (!clientGone && (failure is not null || timedOut))
            {
                runtime.Outlier?.ReportLocalOrigin(endpoint, timedOut ? AttemptOrigin.Timeout : AttemptOrigin.ConnectFailed);
            }

            if (failure is { } f && retry is not null)
            {
                switch (retry.OnFailure(f))
                {
                    case RetryDecision.Yes:
                        if (perTryFired)
                        {
                            runtime.CountPerTryTimeout();
                        }

                        return AttemptOutcome.Retry;
                    case RetryDecision.LimitExceeded:
                        ctx.Flags |= ResponseFlags.UpstreamRetryLimitExceeded;
                        break;
                    case RetryDecision.Overflow:
                        ctx.Flags |= ResponseFlags.UpstreamOverflow;
                        break;
                }
            }

            if (perTryFired)
            {
                runtime.CountPerTryTimeout();
                await LocalReply.SendAsync(
                    ctx, 504, ResponseFlags.UpstreamRequestTimeout, "upstream_per_try_timeout", "upstream request timeout", fromGrpc ? 4 : null)
                    .ConfigureAwait(false);
            }
            else
            {
                await ForwarderErrors.HandleAsync(ctx, error, fromGrpc, logger).ConfigureAwait(false);
            }

            status = ctx.Http.Response.StatusCode;
            return AttemptOutcome.Done;
        }
        finally
        {
            if (sent)
            {
                var failed = status >= 500 || failure is not null || timedOut;
                endpoint.Stats.RequestFinished(failed);
                if (failure == AttemptFailure.ConnectFailure)
                {
                    endpoint.Stats.ConnectFailed();
                    runtime.CountConnectFailure();
                }

                if (timedOut)
                {
                    endpoint.Stats.TimedOut();
                    runtime.CountTimeout();
                }

                runtime.FinishRequest(failed ? Math.Max(status, 503) : status);
            }
            else
            {
                runtime.FinishRequest(0);
            }

            if (pooled)
            {
                runtime.Pool!.Exit();
            }

            deadlineLink.Dispose();
            if (retry is not null)
            {
                retry.AttemptTimer = null;
            }

            attemptTimer?.Dispose();
        }
    }

    /// <summary>
    /// The balancer's pick; on a retry with previous_hosts, picks again (up to host_selection_retry_max_attempts)
    /// while the host was already tried, and then takes any untried selectable host, so that no host is tried
    /// twice while another is available.
    /// </summary>
    private static UpstreamEndpoint? PickEndpoint(ClusterEntry cluster, ulong? hash, RetryState? retry)
    {
        var balancer = cluster.Runtime.Balancer;
        var endpoint = balancer.Pick(cluster.Endpoints, hash);
        if (retry is null || endpoint is null || !retry.WasTried(endpoint))
        {
            return endpoint;
        }

        var attempts = Math.Max(1, retry.Policy.HostSelectionRetryMaxAttempts);
        for (var i = 0; i < attempts; i++)
        {
            var candidate = balancer.Pick(cluster.Endpoints, hash);
            if (candidate is not null && !retry.WasTried(candidate))
            {
                return candidate;
            }
        }

        foreach (var level in cluster.Endpoints.View.Levels)
        {
            foreach (var candidate in level)
            {
                if (!retry.WasTried(candidate))
                {
                    return candidate;
                }
            }
        }

        return endpoint;
    }

    private static ValueTask OverflowAsync(ProxyContext ctx) =>
        LocalReply.SendAsync(
            ctx, 503, ResponseFlags.UpstreamOverflow, "upstream_reset_before_response_started{overflow}",
            "upstream connect error or disconnect/reset before headers. reset reason: overflow");

    private static int UpstreamVersion(ProxyContext ctx, UpstreamProtocol protocol) => protocol switch
    {
        UpstreamProtocol.Http2 => 2,
        UpstreamProtocol.UseDownstream => HttpProtocol.IsHttp2(ctx.Http.Request.Protocol) ? 2 : 1,
        _ => 1,
    };

    /// <summary>The status outlier detection sees: a trailers-only gRPC error counts as its HTTP equivalent, as in Envoy.</summary>
    private static int OutlierStatus(int status, IHeaderDictionary headers) =>
        status < 500 && headers.TryGetValue("grpc-status", out var value)
        && int.TryParse(value.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var code)
            ? RetryState.GrpcToHttp(code)
            : status;
}
