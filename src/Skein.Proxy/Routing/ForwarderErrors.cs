using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Skein.Proxy.Protocol;
using Yarp.ReverseProxy.Forwarder;

namespace Skein.Proxy.Routing;

/// <summary>Maps YARP's <see cref="ForwarderError"/> to Envoy's response flags, statuses and local replies.</summary>
internal static partial class ForwarderErrors
{
    /// <summary>Flags that count as an upstream failure for the cluster's and endpoint's counters.</summary>
    public const ResponseFlags UpstreamFailureFlags = ResponseFlags.UpstreamConnectionFailure | ResponseFlags.UpstreamRemoteReset
        | ResponseFlags.UpstreamRequestTimeout | ResponseFlags.UpstreamConnectionTermination;

    private const string ResetBeforeHeaders = "upstream connect error or disconnect/reset before headers. reset reason: ";

    public static async ValueTask HandleAsync(ProxyContext ctx, ForwarderError error, bool deadlineFromGrpc, ILogger logger)
    {
        var exception = ctx.Http.Features.Get<IForwarderErrorFeature>()?.Exception;
        var timedOut = ctx.Deadline?.IsCancellationRequested == true;
        var clientGone = ctx.Http.RequestAborted.IsCancellationRequested;
        Log.ForwardFailed(logger, error, ctx.Cluster?.Name ?? "-", ctx.Endpoint?.Address ?? "-", exception);

        if (timedOut && !clientGone)
        {
            await LocalReply.SendAsync(
                ctx, 504, ResponseFlags.UpstreamRequestTimeout, "upstream_response_timeout", "upstream request timeout",
                deadlineFromGrpc ? 4 : null).ConfigureAwait(false);
            return;
        }

        switch (error)
        {
            case ForwarderError.Request or ForwarderError.RequestTimedOut when IsConnectFailure(exception):
                // A connect timeout surfaces as a timed-out request; Envoy reports it as a connect failure.
                ctx.UpstreamTransportFailureReason = exception?.GetBaseException().Message;
                await LocalReply.SendAsync(
                    ctx, 503, ResponseFlags.UpstreamConnectionFailure, "upstream_reset_before_response_started{connection_failure}",
                    ResetBeforeHeaders + "connection failure").ConfigureAwait(false);
                break;
            case ForwarderError.Request when clientGone:
            case ForwarderError.RequestCanceled:
            case ForwarderError.RequestBodyCanceled:
            case ForwarderError.RequestBodyClient:
            case ForwarderError.ResponseBodyCanceled:
            case ForwarderError.ResponseBodyClient:
            case ForwarderError.UpgradeRequestCanceled:
            case ForwarderError.UpgradeRequestClient:
            case ForwarderError.UpgradeResponseCanceled:
            case ForwarderError.UpgradeResponseClient:
                ctx.Flags |= ResponseFlags.DownstreamConnectionTermination;
                ctx.ResponseCodeDetails ??= "downstream_remote_disconnect";
                if (!ctx.Http.Response.HasStarted && error == ForwarderError.RequestBodyClient)
                {
                    ctx.StatusCode = 400;
                }

                break;
            case ForwarderError.RequestTimedOut:
            case ForwarderError.UpgradeActivityTimeout:
                await LocalReply.SendAsync(
                    ctx, 504, ResponseFlags.UpstreamRequestTimeout, "stream_idle_timeout", "upstream request timeout",
                    deadlineFromGrpc ? 4 : null).ConfigureAwait(false);
                break;
            default:
                // Request, RequestBodyDestination, ResponseHeaders, ResponseBodyDestination, Upgrade*Destination:
                // the upstream reset or closed the stream.
                ctx.UpstreamTransportFailureReason = exception?.GetBaseException().Message;
                await LocalReply.SendAsync(
                    ctx, 503, ResponseFlags.UpstreamRemoteReset, "upstream_reset_before_response_started{remote_reset}",
                    ResetBeforeHeaders + "remote reset").ConfigureAwait(false);
                break;
        }
    }

    /// <summary>True when the upstream reset the stream with REFUSED_STREAM (HTTP/2): safe to retry anywhere.</summary>
    internal static bool IsRefusedStream(Exception? e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is HttpProtocolException { ErrorCode: 0x7 })
            {
                return true;
            }
        }

        return false;
    }

    internal static bool IsConnectFailure(Exception? e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError }
                || x is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable
                    or SocketError.NetworkUnreachable or SocketError.TimedOut or SocketError.HostNotFound }
                || x is TimeoutException)
            {
                return true;
            }
        }

        return false;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 10, Level = LogLevel.Debug, Message = "Forwarding failed ({Error}) to cluster {Cluster} endpoint {Endpoint}")]
        public static partial void ForwardFailed(ILogger logger, ForwarderError error, string cluster, string endpoint, Exception? exception);
    }
}
