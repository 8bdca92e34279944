using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Skein.ControlPlane.Telemetry;

/// <summary>A proxy to scrape: its node id (the identity of its counters) and its <c>/stats/prometheus</c> URL.</summary>
internal sealed record ScrapeTarget(string Id, string Workload, Uri Url);

/// <summary>
/// The embedded scraper: every interval it GETs each known proxy's <c>/stats/prometheus</c> (in parallel, with a
/// short timeout), turns the Istio counters into per-flow increments and commits them to the window as one
/// round. A target that fails keeps its baseline, so its next good scrape counts what happened meanwhile.
/// </summary>
internal sealed partial class ProxyScraper : BackgroundService
{
    private const int MaxBody = 16 * 1024 * 1024;

    private readonly Func<IReadOnlyList<ScrapeTarget>> _targets;
    private readonly TelemetryWindow _window;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly HttpClient _http;
    private readonly ILogger _logger;
    private readonly Dictionary<string, TargetState> _states = new(StringComparer.Ordinal);
    private DateTimeOffset? _lastRound;
    private long _scrapes;
    private long _failures;

    public ProxyScraper(Func<IReadOnlyList<ScrapeTarget>> targets, TelemetryWindow window, TimeSpan interval, TimeProvider time, ILogger<ProxyScraper> logger, HttpMessageHandler? handler = null)
    {
        _targets = targets;
        _window = window;
        _interval = interval;
        _time = time;
        _logger = logger;
        _http = new HttpClient(handler ?? new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            PooledConnectionIdleTimeout = interval * 3,
        })
        {
            Timeout = TimeSpan.FromSeconds(Math.Clamp(interval.TotalSeconds, 1, 4)),
            MaxResponseContentBufferSize = MaxBody,
        };
    }

    /// <summary>Scrapes done and failed since start, for skein-control's own view of its health.</summary>
    public long Scrapes => Interlocked.Read(ref _scrapes);

    public long Failures => Interlocked.Read(ref _failures);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_interval, _time);
        try
        {
            do
            {
                await ScrapeOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One round: scrape every target, commit the increments.</summary>
    public async Task ScrapeOnceAsync(CancellationToken cancel)
    {
        var targets = _targets();
        var bodies = await Task.WhenAll(targets.Select(t => FetchAsync(t, cancel))).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var increments = new Dictionary<FlowKey, FlowAggregate>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < targets.Count; i++)
        {
            var target = targets[i];
            seen.Add(target.Id);
            if (!_states.TryGetValue(target.Id, out var state))
            {
                state = new TargetState();
                _states[target.Id] = state;
            }

            if (bodies[i] is not { } body)
            {
                continue;
            }

            state.LastSeen = now;
            var malformed = state.Counters.Apply(body, increments);
            if (malformed > 0)
            {
                Log.Malformed(_logger, target.Url, malformed);
            }
        }

        // Forget targets gone for a while (a restarted proxy comes back under the same id and is baselined again).
        foreach (var id in _states.Where(s => !seen.Contains(s.Key) && now - s.Value.LastSeen > _interval * 12).Select(s => s.Key).ToList())
        {
            _states.Remove(id);
        }

        var covered = _lastRound is { } last ? now - last : _interval;
        _lastRound = now;
        _window.Commit(now, covered, increments);
    }

    private async Task<string?> FetchAsync(ScrapeTarget target, CancellationToken cancel)
    {
        try
        {
            using var response = await _http.GetAsync(target.Url, cancel).ConfigureAwait(false);
            Interlocked.Increment(ref _scrapes);
            if (!response.IsSuccessStatusCode)
            {
                Interlocked.Increment(ref _failures);
                Log.Failed(_logger, target.Url, $"HTTP {(int)response.StatusCode}");
                return null;
            }

            var bytes = await response.Content.ReadAsByteArrayAsync(cancel).ConfigureAwait(false);
            return Encoding.UTF8.GetString(bytes);
        }
        catch (Exception e) when ((e is HttpRequestException or TaskCanceledException or IOException) && !cancel.IsCancellationRequested)
        {
            Interlocked.Increment(ref _failures);
            Log.Failed(_logger, target.Url, e.Message);
            return null;
        }
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    private sealed class TargetState
    {
        public TargetCounters Counters { get; } = new();

        public DateTimeOffset LastSeen { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "scrape of {Url} failed: {Reason}")]
        public static partial void Failed(ILogger logger, Uri url, string reason);

        [LoggerMessage(2, LogLevel.Debug, "scrape of {Url}: {Count} malformed lines skipped")]
        public static partial void Malformed(ILogger logger, Uri url, int count);
    }
}
