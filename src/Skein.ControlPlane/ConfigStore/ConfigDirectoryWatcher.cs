using Microsoft.Extensions.Logging;
using Skein.Api.Loading;

namespace Skein.ControlPlane.ConfigStore;

/// <summary>
/// Feeds <c>--config-dir</c> into the store: loads it whole (recursively) at start, then again after
/// every burst of file events has been quiet for the debounce time. A load with any error is refused
/// by the store and the last good config stays in force until the files are fixed. File events come from
/// inotify; a poll of the files' names, sizes and times every <see cref="PollInterval"/> catches what
/// inotify misses (its watch limit reached, network or bind-mounted file systems).
/// </summary>
internal sealed partial class ConfigDirectoryWatcher : IDisposable
{
    private readonly string _directory;
    private readonly MeshConfigStore _store;
    private readonly TimeSpan _debounce;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _signal = new(0, int.MaxValue);
    private readonly CancellationTokenSource _stop = new();
    private FileSystemWatcher? _watcher;
    private Task? _loop;
    private long _lastEvent;
    private string _fingerprint = "";

    /// <summary>How often the directory is compared with its last load, whatever inotify reports.</summary>
    public static TimeSpan PollInterval { get; } = TimeSpan.FromSeconds(2);

    public ConfigDirectoryWatcher(string directory, MeshConfigStore store, TimeSpan debounce, TimeProvider time, ILogger<ConfigDirectoryWatcher> logger)
    {
        _directory = Path.GetFullPath(directory);
        _store = store;
        _debounce = debounce;
        _time = time;
        _logger = logger;
    }

    /// <summary>How many reloads have run (tests wait on it).</summary>
    public int Reloads => Volatile.Read(ref _reloads);

    private int _reloads;

    /// <summary>Loads the directory once and starts watching it.</summary>
    public ConfigResult Start()
    {
        Directory.CreateDirectory(_directory);
        var first = Reload();
        _watcher = new FileSystemWatcher(_directory)
        {
            IncludeSubdirectories = true,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size,
        };
        _watcher.Changed += OnEvent;
        _watcher.Created += OnEvent;
        _watcher.Deleted += OnEvent;
        _watcher.Renamed += OnEvent;
        _watcher.Error += (_, e) =>
        {
            Log.WatchError(_logger, e.GetException().Message);
            Signal();
        };
        try
        {
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception e) when (e is IOException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            Log.WatchError(_logger, $"{e.Message}; polling every {PollInterval.TotalSeconds:F0}s instead");
        }

        _loop = Task.Run(LoopAsync);
        return first;
    }

    /// <summary>Loads the directory now and hands it to the store.</summary>
    public ConfigResult Reload()
    {
        Volatile.Write(ref _fingerprint, Fingerprint());
        var loaded = ConfigLoader.LoadPaths([_directory], recursive: true);
        Interlocked.Increment(ref _reloads);
        return _store.ReplaceDirectory(loaded, _directory);
    }

    private void OnEvent(object sender, FileSystemEventArgs e)
    {
        var ext = Path.GetExtension(e.FullPath);
        var relevant = ext.Length == 0 // a directory
            || ext.Equals(".yaml", StringComparison.OrdinalIgnoreCase)
            || ext.Equals(".yml", StringComparison.OrdinalIgnoreCase)
            || ext.Equals(".json", StringComparison.OrdinalIgnoreCase)
            || (e is RenamedEventArgs r && Path.GetExtension(r.OldFullPath) is ".yaml" or ".yml" or ".json");
        if (relevant)
        {
            Signal();
        }
    }

    private void Signal()
    {
        Volatile.Write(ref _lastEvent, _time.GetTimestamp());
        _signal.Release();
    }

    private async Task LoopAsync()
    {
        var token = _stop.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                if (!await _signal.WaitAsync(PollInterval, token))
                {
                    if (Fingerprint() == Volatile.Read(ref _fingerprint))
                    {
                        continue;
                    }

                    Volatile.Write(ref _lastEvent, _time.GetTimestamp());
                }

                // Wait until the events have been quiet for the debounce time.
                while (true)
                {
                    var elapsed = _time.GetElapsedTime(Volatile.Read(ref _lastEvent));
                    if (elapsed >= _debounce)
                    {
                        break;
                    }

                    await Task.Delay(_debounce - elapsed, _time, token);
                }

                while (_signal.CurrentCount > 0)
                {
                    await _signal.WaitAsync(token);
                }

                try
                {
                    Reload();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Log.WatchError(_logger, e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Names, sizes and write times of the config files: changes when any file does.</summary>
    private string Fingerprint()
    {
        try
        {
            var sb = new System.Text.StringBuilder();
            foreach (var file in Directory.EnumerateFiles(_directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                if (Path.GetExtension(file) is ".yaml" or ".yml" or ".json" or ".YAML" or ".YML" or ".JSON")
                {
                    var info = new FileInfo(file);
                    sb.Append(file).Append('|').Append(info.Length).Append('|').Append(info.LastWriteTimeUtc.Ticks).Append('\n');
                }
            }

            return sb.ToString();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _watcher?.Dispose();
        try
        {
            _loop?.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
        _signal.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "config directory watch: {Message}")]
        public static partial void WatchError(ILogger logger, string message);
    }
}
