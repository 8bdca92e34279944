using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Skein.Proxy.Protocol;
using Skein.Proxy.Resilience;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.Routing;

/// <summary>
/// Request mirroring (<c>request_mirror_policies</c>): a copy of the request goes to each mirror cluster picked
/// by its <c>runtime_fraction</c>, fire and forget. The copy's authority gets Envoy's <c>-shadow</c> suffix
/// (<c>reviews:9080</c> becomes <c>reviews-shadow:9080</c>); its response is read and dropped. Everything the copy
/// needs is taken from the request before it goes upstream, so the original never waits for a mirror; a body is
/// mirrored from the retry buffer once the original has read all of it, and a body larger than that buffer
/// (1 MiB) is not mirrored (Envoy cancels the shadow in that case too).
/// </summary>
internal static partial class RequestMirror
{
    private static readonly HashSet<string> NotCopied = new(StringComparer.OrdinalIgnoreCase)
    {
        HeaderNames.Connection, HeaderNames.KeepAlive, "proxy-connection", HeaderNames.TE, HeaderNames.TransferEncoding,
        HeaderNames.Upgrade, HeaderNames.Host, HeaderNames.ContentLength, "x-envoy-attempt-count",
    };

    public static void Start(ProxyContext ctx, ForwardRouteAction action, ReplayableRequestBody? body, bool hasBody, IRandomSource random, ILogger logger)
    {
        foreach (var policy in action.MirrorPolicies)
        {
            if (policy.Fraction is { } fraction && !fraction.Roll(random))
            {
                continue;
            }

            if (!ctx.Config.Clusters.TryGetValue(policy.Cluster, out var cluster))
            {
                Log.MirrorSkipped(logger, policy.Cluster, "unknown cluster");
                continue;
            }

            var endpoint = cluster.Runtime.Balancer.Pick(cluster.Endpoints, null);
            if (endpoint is null || !cluster.Runtime.TryStartRequest())
            {
                Log.MirrorSkipped(logger, policy.Cluster, endpoint is null ? "no healthy upstream" : "overflow");
                continue;
            }

            var request = Copy(ctx, endpoint, cluster.Runtime.Settings.Http.Protocol);
            var timeout = action.Timeout ?? TimeSpan.FromSeconds(15);
            _ = SendAsync(cluster.Runtime, request, hasBody ? body : null, hasBody && body is null, timeout, ctx.Time, logger);
        }
    }

    /// <summary>Envoy's shadow authority: <c>-shadow</c> after the host, before any port.</summary>
    internal static string ShadowAuthority(string authority)
    {
        var colon = authority.LastIndexOf(':');
        return colon > 0 && authority.IndexOf(']', colon) < 0
            ? string.Concat(authority.AsSpan(0, colon), "-shadow", authority.AsSpan(colon))
            : authority + "-shadow";
    }

    private static HttpRequestMessage Copy(ProxyContext ctx, UpstreamEndpoint endpoint, UpstreamProtocol protocol)
    {
        var source = ctx.Http.Request;
        var message = new HttpRequestMessage(new HttpMethod(source.Method), endpoint.HttpPrefix + (ctx.RewrittenPathAndQuery ?? ctx.PathAndQuery))
        {
            Version = protocol == UpstreamProtocol.Http2 || (protocol == UpstreamProtocol.UseDownstream && HttpProtocol.IsHttp2(source.Protocol))
                ? HttpVersion.Version20
                : HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        message.Headers.Host = ShadowAuthority(source.Headers.Host.ToString() is { Length: > 0 } host ? host : ctx.Authority);
        foreach (var (name, values) in source.Headers)
        {
            if (name.StartsWith(':') || NotCopied.Contains(name))
            {
                continue;
            }

            if (!message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            {
                // Content headers travel with the body.
                (message.Content ??= new ByteArrayContent([])).Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        return message;
    }

    private static async Task SendAsync(
        ClusterRuntime cluster, HttpRequestMessage request, ReplayableRequestBody? body, bool bodyNotKept, TimeSpan timeout, TimeProvider time, ILogger logger)
    {
        var status = 0;
        try
        {
            using var deadline = new CancellationTokenSource(timeout, time);
            if (bodyNotKept)
            {
                Log.MirrorSkipped(logger, cluster.Settings.Name, "request body not buffered");
                return;
            }

            if (body is not null)
            {
                var bytes = await body.CopyWhenComplete().WaitAsync(deadline.Token).ConfigureAwait(false);
                if (bytes is null)
                {
                    Log.MirrorSkipped(logger, cluster.Settings.Name, "request body larger than the mirror buffer");
                    return;
                }

                var content = new ByteArrayContent(bytes);
                if (request.Content is { } headersOnly)
                {
                    foreach (var h in headersOnly.Headers)
                    {
                        content.Headers.TryAddWithoutValidation(h.Key, h.Value);
                    }

                    headersOnly.Dispose();
                }

                request.Content = content;
            }

            using var response = await cluster.Http.SendAsync(request, deadline.Token).ConfigureAwait(false);
            status = (int)response.StatusCode;
            await using var stream = await response.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false);
            await stream.CopyToAsync(Stream.Null, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            status = 503;
            Log.MirrorFailed(logger, cluster.Settings.Name, e);
        }
        finally
        {
            request.Dispose();
            cluster.FinishRequest(status);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 60, Level = LogLevel.Debug, Message = "Mirror to {Cluster} skipped: {Reason}")]
        public static partial void MirrorSkipped(ILogger logger, string cluster, string reason);

        [LoggerMessage(EventId = 61, Level = LogLevel.Debug, Message = "Mirror to {Cluster} failed")]
        public static partial void MirrorFailed(ILogger logger, string cluster, Exception exception);
    }
}
