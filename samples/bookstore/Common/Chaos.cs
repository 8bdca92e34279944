using System.Globalization;
using Microsoft.Extensions.Primitives;

namespace Skein.Bookstore.Common;

/// <summary>What to do to one request: wait, then maybe fail with a status.</summary>
internal readonly record struct ChaosDecision(TimeSpan Delay, int? FailStatus, string? Error)
{
    public static readonly ChaosDecision None = new(TimeSpan.Zero, null, null);
}

/// <summary>
/// Decides the injected latency and failure of each request from <see cref="ChaosOptions"/>
/// and the per-request headers <c>x-bookstore-fail</c> and <c>x-bookstore-delay-ms</c>,
/// which override the configured values. The random source is injected so tests are exact.
/// The options can be replaced while the app runs (<c>PUT /chaos</c>), so a test can make one
/// instance misbehave and heal it again without restarting the mesh.
/// </summary>
internal sealed class Chaos(ChaosOptions options, Func<double> random)
{
    public const string FailHeader = "x-bookstore-fail";
    public const string DelayHeader = "x-bookstore-delay-ms";

    private ChaosOptions _options = options;
    private long _requests;

    public ChaosOptions Options
    {
        get => Volatile.Read(ref _options);
        set
        {
            Interlocked.Exchange(ref _requests, 0);
            Volatile.Write(ref _options, value);
        }
    }

    public ChaosDecision Decide(IHeaderDictionary headers)
    {
        var options = Options;
        var delay = options.Delay;
        if (headers.TryGetValue(DelayHeader, out var delayText))
        {
            if (!TryParse(delayText, 0, ChaosOptions.MaxDelayMs, out var ms))
            {
                return new ChaosDecision(TimeSpan.Zero, StatusCodes.Status400BadRequest, $"{DelayHeader} must be 0..{ChaosOptions.MaxDelayMs}");
            }
            delay = TimeSpan.FromMilliseconds(ms);
        }

        int? fail = null;
        if (headers.TryGetValue(FailHeader, out var failText))
        {
            if (!TryParse(failText, 0, 599, out var status) || status is > 0 and < 200)
            {
                return new ChaosDecision(TimeSpan.Zero, StatusCodes.Status400BadRequest, $"{FailHeader} must be 0 (never fail) or a status 200..599");
            }
            fail = status == 0 ? null : status;
        }
        else if (options.FailPercent > 0 && (options.Spread ? SpreadHit(options.FailPercent) : random() * 100 < options.FailPercent))
        {
            fail = options.FailStatus;
        }

        return delay == TimeSpan.Zero && fail is null ? ChaosDecision.None : new ChaosDecision(delay, fail, null);
    }

    /// <summary>
    /// Evenly spaced failures: request n fails when floor(n·P/100) steps up, so exactly P% fail and,
    /// below 50%, never two in a row (a retry of a failed call succeeds; the count is exact).
    /// </summary>
    private bool SpreadHit(double percent)
    {
        var n = Interlocked.Increment(ref _requests);
        return Math.Floor(n * percent / 100) > Math.Floor((n - 1) * percent / 100);
    }

    private static bool TryParse(StringValues values, int min, int max, out int value) =>
        int.TryParse(values.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max;
}
