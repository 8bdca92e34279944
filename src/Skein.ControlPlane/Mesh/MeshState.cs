using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Skein.ControlPlane.ConfigStore;
using Skein.ControlPlane.Registry;

namespace Skein.ControlPlane.Mesh;

/// <summary>
/// Joins the config store and the instance registry into <see cref="MeshSnapshot"/>s: a change rebuilds the
/// snapshot under a lock, gives it the next version, publishes it with one volatile write and raises
/// <see cref="Changed"/>. Config changes rebuild at once (the API answers with the version that holds them);
/// registry changes are coalesced: the version they will be in is reserved at once and the rebuild runs after
/// a short quiet time (<see cref="RegistryDebounce"/>), so a burst of registrations costs one rebuild. Reading
/// <see cref="Current"/> while a rebuild is pending builds it first, so readers always see every change made
/// before the read. The version counter survives restarts in the data directory, so versions only go up.
/// </summary>
internal sealed partial class MeshState
{
    private readonly object _gate = new();
    private readonly MeshConfigStore _store;
    private readonly InstanceRegistry _registry;
    private readonly VipAllocator _vips;
    private readonly DataDirectory _data;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private MeshSnapshot _current;
    private long _version;
    // Registry changes reserve their version under this small lock, never waiting for a rebuild in progress.
    private readonly object _reserveGate = new();
    private long _reserved; // the version a pending registry change will get (0: none pending)
    private long _inBuild; // the version being built now (0: none)
    private int _loopRunning;

    public MeshState(
        MeshConfigStore store,
        InstanceRegistry registry,
        VipAllocator vips,
        MeshSettings settings,
        DataDirectory data,
        TimeProvider time,
        ILogger<MeshState> logger)
    {
        _store = store;
        _registry = registry;
        _vips = vips;
        _data = data;
        _time = time;
        _logger = logger;
        Settings = settings;
        _version = ReadVersion(data);
        _current = MeshSnapshot.Empty(settings);
        _store.Changed += _ => Rebuild();
        _registry.Changed += ScheduleRebuild;
    }

    /// <summary>How long registry changes must be quiet before the snapshot is rebuilt (at most 10× that after the first).</summary>
    public TimeSpan RegistryDebounce { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Raised after each new snapshot is published, outside the lock.</summary>
    public event Action<MeshSnapshot>? Changed;

    public MeshSettings Settings { get; }

    public MeshSnapshot Current
    {
        get
        {
            if (Interlocked.Read(ref _reserved) != 0)
            {
                Rebuild(pendingOnly: true);
            }

            return Volatile.Read(ref _current);
        }
    }

    /// <summary>The version that holds every change made so far (a pending registry change's reserved version).</summary>
    public long PendingVersion
    {
        get
        {
            var reserved = Interlocked.Read(ref _reserved);
            return reserved != 0 ? reserved : Volatile.Read(ref _current).Version;
        }
    }

    /// <summary>The last version handed out (persisted), for the config store to continue from.</summary>
    public long LastVersion => Interlocked.Read(ref _version);

    /// <summary>Builds and publishes a snapshot of the current config and instances.</summary>
    public MeshSnapshot Rebuild() => Rebuild(pendingOnly: false);

    private MeshSnapshot Rebuild(bool pendingOnly)
    {
        MeshSnapshot snapshot;
        lock (_gate)
        {
            long version;
            lock (_reserveGate)
            {
                if (pendingOnly && _reserved == 0)
                {
                    return _current; // built meanwhile by another reader or the debounce loop
                }

                // Taken here, so that a registration reserving after this point gets a later version.
                version = _reserved != 0 ? _reserved : Interlocked.Increment(ref _version);
                _inBuild = version;
            }

            var config = _store.Current;
            var previous = _current;
            var registry = ServiceRegistryBuilder.Build(config, _registry.Instances.Values, _vips, previous.AllServices);
            snapshot = MeshSnapshot.Create(version, _time.GetUtcNow(), config, registry, Settings, previous);
            Volatile.Write(ref _current, snapshot);
            lock (_reserveGate)
            {
                if (_reserved == version)
                {
                    Interlocked.Exchange(ref _reserved, 0);
                }

                _inBuild = 0;
            }

            WriteVersion(version);
        }

        Log.SnapshotBuilt(_logger, snapshot.Version, snapshot.Config.Resources.Length, snapshot.Services.Length, snapshot.Instances.Length);
        Changed?.Invoke(snapshot);
        return snapshot;
    }

    /// <summary>A registry change: reserve its version now, rebuild once changes have been quiet for a moment.</summary>
    private void ScheduleRebuild()
    {
        lock (_reserveGate)
        {
            // A build in progress may have read the instances before this change: it needs a version of its own.
            if (_reserved == 0 || _reserved == _inBuild)
            {
                Interlocked.Exchange(ref _reserved, Interlocked.Increment(ref _version));
            }

            Volatile.Write(ref _lastRegistryChange, _time.GetTimestamp());
        }

        if (Interlocked.CompareExchange(ref _loopRunning, 1, 0) == 0)
        {
            _ = Task.Run(DebounceLoopAsync);
        }
    }

    private long _lastRegistryChange;

    private async Task DebounceLoopAsync()
    {
        try
        {
            var first = _time.GetTimestamp();
            while (true)
            {
                var sinceLast = _time.GetElapsedTime(Volatile.Read(ref _lastRegistryChange));
                var sinceFirst = _time.GetElapsedTime(first);
                var max = RegistryDebounce * 10;
                if (sinceLast >= RegistryDebounce || sinceFirst >= max)
                {
                    break;
                }

                var wait = TimeSpan.FromTicks(Math.Min((RegistryDebounce - sinceLast).Ticks, (max - sinceFirst).Ticks));
                await Task.Delay(wait, _time);
            }

            Rebuild(pendingOnly: true);
        }
        catch (Exception e)
        {
            Log.RebuildFailed(_logger, e.Message);
        }
        finally
        {
            Volatile.Write(ref _loopRunning, 0);
            if (Interlocked.Read(ref _reserved) != 0 && Interlocked.CompareExchange(ref _loopRunning, 1, 0) == 0)
            {
                _ = Task.Run(DebounceLoopAsync); // a change arrived while the loop was finishing
            }
        }
    }

    private static long ReadVersion(DataDirectory data)
    {
        var text = data.Read(DataDirectory.StateFile);
        if (text is null)
        {
            return 0;
        }

        try
        {
            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.TryGetProperty("version", out var v) && v.TryGetInt64(out var n) ? n : 0;
        }
        catch (JsonException)
        {
            return 0;
        }
    }

    private void WriteVersion(long version)
    {
        if (!_data.IsEnabled)
        {
            return;
        }

        try
        {
            _data.Write(DataDirectory.StateFile, string.Create(CultureInfo.InvariantCulture, $"{{\"version\": {version}}}\n"));
        }
        catch (IOException e)
        {
            Log.PersistFailed(_logger, e.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "mesh snapshot {Version}: {Resources} resources, {Services} services, {Instances} instances")]
        public static partial void SnapshotBuilt(ILogger logger, long version, int resources, int services, int instances);

        [LoggerMessage(2, LogLevel.Error, "cannot persist the version counter: {Message}")]
        public static partial void PersistFailed(ILogger logger, string message);

        [LoggerMessage(3, LogLevel.Error, "rebuilding the mesh snapshot after a registry change failed: {Message}")]
        public static partial void RebuildFailed(ILogger logger, string message);
    }
}
