using System.Collections.Immutable;
using Google.Protobuf.WellKnownTypes;
using Skein.Proxy.Protocol;
using Skein.Proxy.Routing;
using Skein.Proxy.Runtime;
using Skein.Xds;
using Skein.Xds.Envoy.Extensions.Filters.Http.Fault.V3;
using CommonFault = Skein.Xds.Envoy.Extensions.Filters.Common.Fault.V3.FaultDelay;

namespace Skein.Proxy.Resilience;

/// <summary>A compiled <c>HTTPFault</c>: delays and aborts for a fraction of requests.</summary>
internal sealed record FaultConfig(
    TimeSpan? FixedDelay,
    bool HeaderDelay,
    FractionRuntime DelayFraction,
    int? AbortHttpStatus,
    int? AbortGrpcStatus,
    bool HeaderAbort,
    FractionRuntime AbortFraction,
    ImmutableArray<HeaderMatch> Headers,
    string? UpstreamCluster,
    int? MaxActiveFaults)
{
    public bool HasDelay => FixedDelay is not null || HeaderDelay;

    public bool HasAbort => AbortHttpStatus is not null || AbortGrpcStatus is not null || HeaderAbort;
}

/// <summary>Fault injection (<c>envoy.filters.http.fault</c>), with per-route overrides keyed by the filter's name.</summary>
internal sealed class FaultFilterFactory(IRandomSource random, TimeProvider time) : IHttpFilterFactory
{
    private int _active;

    public string TypeUrl => TypeUrls.HttpFault;

    public bool IsTerminal => false;

    public IReadOnlyList<string> PerRouteTypeUrls => [TypeUrls.HttpFault];

    public object Compile(Any? typedConfig) => typedConfig is null ? Empty : Compile(typedConfig.Unpack<HTTPFault>());

    public object CompilePerRoute(Any typedConfig) => Compile(typedConfig.Unpack<HTTPFault>());

    public ProxyRequestDelegate Create(string filterName, object config, ProxyRequestDelegate next)
    {
        var filterConfig = (FaultConfig)config;
        return ctx => InvokeAsync(ctx, filterName, filterConfig, next);
    }

    private static readonly FaultConfig Empty = new(null, false, new(0, 100), null, null, false, new(0, 100), [], null, null);

    private async ValueTask InvokeAsync(ProxyContext ctx, string name, FaultConfig filterConfig, ProxyRequestDelegate next)
    {
        var config = ctx.TryGetFilterConfig(name, out var o) ? (FaultConfig)o : filterConfig;
        if ((!config.HasDelay && !config.HasAbort) || !Applies(ctx, config))
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }

        if (config.MaxActiveFaults is { } max && Volatile.Read(ref _active) >= max)
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }

        Interlocked.Increment(ref _active);
        try
        {
            var delay = config.FixedDelay;
            if (config.HeaderDelay && HeaderInt(ctx, "x-envoy-fault-delay-request") is { } ms)
            {
                delay = TimeSpan.FromMilliseconds(ms);
            }

            if (delay is { } d && config.DelayFraction.Roll(random))
            {
                ctx.Flags |= ResponseFlags.DelayInjected;
                await DelayAtLeastAsync(d, ctx.Http.RequestAborted).ConfigureAwait(false);
            }

            var http = config.AbortHttpStatus;
            var grpc = config.AbortGrpcStatus;
            if (config.HeaderAbort)
            {
                http = HeaderInt(ctx, "x-envoy-fault-abort-request");
                grpc = HeaderInt(ctx, "x-envoy-fault-abort-grpc-request");
            }

            if ((http is not null || grpc is not null) && config.AbortFraction.Roll(random))
            {
                await LocalReply.SendAsync(ctx, http ?? 200, ResponseFlags.FaultInjected, "fault_filter_abort", "fault filter abort", grpc)
                    .ConfigureAwait(false);
                return;
            }
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }

        await next(ctx).ConfigureAwait(false);
    }

    private static bool Applies(ProxyContext ctx, FaultConfig config)
    {
        foreach (var h in config.Headers)
        {
            if (!h.Matches(RouteMatcher.HeaderValue(ctx, h.Name)))
            {
                return false;
            }
        }

        return config.UpstreamCluster is null
            || (ctx.Route?.Action is ForwardRouteAction { Cluster: { } c } && c.Name == config.UpstreamCluster);
    }

    /// <summary>
    /// Waits the whole injected delay: timers tick in whole milliseconds and may fire a fraction of one early,
    /// and a chaos test that asks for 2 s must never see 1.999 s.
    /// </summary>
    private async ValueTask DelayAtLeastAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        for (var left = delay; left > TimeSpan.Zero; left = delay - time.GetElapsedTime(started))
        {
            await Task.Delay(left < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : left, time, cancellationToken).ConfigureAwait(false);
        }
    }

    private static int? HeaderInt(ProxyContext ctx, string name) =>
        int.TryParse(ctx.Http.Request.Headers[name].ToString(), out var v) && v >= 0 ? v : null;

    private static FaultConfig Compile(HTTPFault f)
    {
        var headers = ImmutableArray.CreateBuilder<HeaderMatch>();
        foreach (var h in f.Headers)
        {
            headers.Add(RuntimeCompiler.CompileHeaderMatch(h));
        }

        var abort = f.Abort;
        return new FaultConfig(
            f.Delay?.FaultDelaySecifierCase == CommonFault.FaultDelaySecifierOneofCase.FixedDelay ? f.Delay.FixedDelay.ToTimeSpan() : null,
            f.Delay?.FaultDelaySecifierCase == CommonFault.FaultDelaySecifierOneofCase.HeaderDelay,
            f.Delay?.Percentage is null ? new FractionRuntime(100, 100) : ProtoValues.Fraction(f.Delay.Percentage),
            abort?.ErrorTypeCase == FaultAbort.ErrorTypeOneofCase.HttpStatus ? CheckStatus(abort.HttpStatus) : null,
            abort?.ErrorTypeCase == FaultAbort.ErrorTypeOneofCase.GrpcStatus ? (int)abort.GrpcStatus : null,
            abort?.ErrorTypeCase == FaultAbort.ErrorTypeOneofCase.HeaderAbort,
            abort?.Percentage is null ? new FractionRuntime(100, 100) : ProtoValues.Fraction(abort.Percentage),
            headers.ToImmutable(),
            string.IsNullOrEmpty(f.UpstreamCluster) ? null : f.UpstreamCluster,
            f.MaxActiveFaults is { } m ? (int)m : null);
    }

    private static int CheckStatus(uint status) =>
        status is >= 200 and < 600 ? (int)status : throw new ConfigException($"abort.http_status: {status} must be 200..599");
}
