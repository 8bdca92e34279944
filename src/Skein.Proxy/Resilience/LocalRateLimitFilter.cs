using System.Collections.Immutable;
using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;
using Skein.Xds;
using Skein.Xds.Envoy.Extensions.Common.Ratelimit.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.LocalRatelimit.V3;

namespace Skein.Proxy.Resilience;

/// <summary>A token bucket refilled lazily from a <see cref="TimeProvider"/>.</summary>
internal sealed class TokenBucket(int maxTokens, int tokensPerFill, TimeSpan fillInterval, TimeProvider time)
{
    private readonly Lock _lock = new();
    private double _tokens = maxTokens;
    private long _lastFill = time.GetTimestamp();

    public int MaxTokens => maxTokens;

    public bool TryTake() => TryTake(out _, out _);

    /// <summary>Takes a token if there is one; reports what is left and the time until the next fill.</summary>
    public bool TryTake(out int remaining, out TimeSpan untilFill)
    {
        lock (_lock)
        {
            var now = time.GetTimestamp();
            var fills = (long)(time.GetElapsedTime(_lastFill, now) / fillInterval);
            if (fills > 0)
            {
                _tokens = Math.Min(maxTokens, _tokens + (fills * tokensPerFill));
                _lastFill += (long)(fills * fillInterval.TotalSeconds * time.TimestampFrequency);
            }

            untilFill = fillInterval - time.GetElapsedTime(_lastFill, now);
            var taken = _tokens >= 1;
            if (taken)
            {
                _tokens -= 1;
            }

            remaining = (int)_tokens;
            return taken;
        }
    }
}

/// <summary>A compiled <c>LocalRateLimit</c>; its bucket lives as long as the config snapshot.</summary>
internal sealed record LocalRateLimitConfig(
    TokenBucket? Bucket, int Status, FractionRuntime Enabled, FractionRuntime Enforced, HeaderMutations ResponseHeaders, bool ResourceExhausted,
    bool XRateLimitHeaders = false);

/// <summary>Local rate limiting (<c>envoy.filters.http.local_ratelimit</c>): 429 and flag RL when the bucket is empty.</summary>
internal sealed class LocalRateLimitFilterFactory(IRandomSource random, TimeProvider time) : IHttpFilterFactory
{
    public string TypeUrl => TypeUrls.LocalRateLimit;

    public bool IsTerminal => false;

    public IReadOnlyList<string> PerRouteTypeUrls => [TypeUrls.LocalRateLimit];

    public object Compile(Any? typedConfig) => Compile(typedConfig?.Unpack<LocalRateLimit>() ?? new LocalRateLimit());

    public object CompilePerRoute(Any typedConfig) => Compile(typedConfig.Unpack<LocalRateLimit>());

    public ProxyRequestDelegate Create(string filterName, object config, ProxyRequestDelegate next)
    {
        var filterConfig = (LocalRateLimitConfig)config;
        return ctx => InvokeAsync(ctx, filterName, filterConfig, next);
    }

    private async ValueTask InvokeAsync(ProxyContext ctx, string name, LocalRateLimitConfig filterConfig, ProxyRequestDelegate next)
    {
        var config = ctx.TryGetFilterConfig(name, out var o) ? (LocalRateLimitConfig)o : filterConfig;
        if (config.Bucket is null || !config.Enabled.Roll(random))
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }

        var taken = config.Bucket.TryTake(out var remaining, out var untilFill);
        if (config.XRateLimitHeaders)
        {
            // draft-ietf-httpapi-ratelimit-headers-03, as Envoy's enable_x_ratelimit_headers: DRAFT_VERSION_03.
            // Set as the response starts: the forwarder copies the upstream's headers over the response first.
            var limit = config.Bucket.MaxTokens.ToString(CultureInfo.InvariantCulture);
            var left = remaining.ToString(CultureInfo.InvariantCulture);
            var reset = Math.Max(0, (int)Math.Ceiling(untilFill.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            var response = ctx.Http.Response;
            response.OnStarting(() =>
            {
                response.Headers["x-ratelimit-limit"] = limit;
                response.Headers["x-ratelimit-remaining"] = left;
                response.Headers["x-ratelimit-reset"] = reset;
                return Task.CompletedTask;
            });
        }

        if (taken || !config.Enforced.Roll(random))
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }

        config.ResponseHeaders.ApplyTo(ctx.Http.Response.Headers);
        await LocalReply.SendAsync(
            ctx, config.Status, ResponseFlags.RateLimited, "local_rate_limited", "local_rate_limited", config.ResourceExhausted ? 8 : 14)
            .ConfigureAwait(false);
    }

    private LocalRateLimitConfig Compile(LocalRateLimit l)
    {
        TokenBucket? bucket = null;
        if (l.TokenBucket is { } tb)
        {
            var interval = tb.FillInterval?.ToTimeSpan() ?? TimeSpan.Zero;
            if (interval <= TimeSpan.Zero)
            {
                throw new ConfigException("token_bucket.fill_interval: must be greater than 0");
            }

            if (tb.MaxTokens == 0)
            {
                throw new ConfigException("token_bucket.max_tokens: must be greater than 0");
            }

            bucket = new TokenBucket((int)tb.MaxTokens, (int)(tb.TokensPerFill ?? 1), interval, time);
        }

        var adds = ImmutableArray.CreateBuilder<HeaderAddition>();
        foreach (var h in l.ResponseHeadersToAdd)
        {
            adds.Add(new HeaderAddition(h.Header.Key.ToLowerInvariant(), h.Header.Value, HeaderAppend.OverwriteIfExistsOrAdd, h.KeepEmptyValue));
        }

        return new LocalRateLimitConfig(
            bucket,
            l.Status is { Code: not 0 } s ? (int)s.Code : 429,
            l.FilterEnabled is null ? new FractionRuntime(0, 100) : ProtoValues.Fraction(l.FilterEnabled.DefaultValue),
            l.FilterEnforced is null ? new FractionRuntime(0, 100) : ProtoValues.Fraction(l.FilterEnforced.DefaultValue),
            new HeaderMutations([], adds.ToImmutable()),
            l.RateLimitedAsResourceExhausted,
            l.EnableXRatelimitHeaders == XRateLimitHeadersRFCVersion.DraftVersion03);
    }
}
