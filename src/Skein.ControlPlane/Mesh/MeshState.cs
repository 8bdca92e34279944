using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Skein.ControlPlane.ConfigStore;
using Skein.ControlPlane.Registry;

namespace Skein.ControlPlane.Mesh;

/// <summary>
/// Joins the config store and the instance registry into <see cref="MeshSnapshot"/>s: every change to
/// either rebuilds the snapshot under a lock, gives it the next version, publishes it with one volatile
/// write and raises <see cref="Changed"/>. The version counter survives restarts in the data directory,
/// so versions only go up.
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
        _registry.Changed += () => Rebuild();
    }

    /// <summary>Raised after each new snapshot is published, outside the lock.</summary>
    public event Action<MeshSnapshot>? Changed;

    public MeshSettings Settings { get; }

    public MeshSnapshot Current => Volatile.Read(ref _current);

    /// <summary>The last version handed out (persisted), for the config store to continue from.</summary>
    public long LastVersion => Interlocked.Read(ref _version);

    /// <summary>Builds and publishes a snapshot of the current config and instances.</summary>
    public MeshSnapshot Rebuild()
    {
        MeshSnapshot snapshot;
        lock (_gate)
        {
            var config = _store.Current;
            var registry = ServiceRegistryBuilder.Build(config, _registry.Instances.Values, _vips);
            var version = Interlocked.Increment(ref _version);
            snapshot = MeshSnapshot.Create(version, _time.GetUtcNow(), config, registry, Settings);
            Volatile.Write(ref _current, snapshot);
            WriteVersion(version);
        }

        Log.SnapshotBuilt(_logger, snapshot.Version, snapshot.Config.Resources.Length, snapshot.Services.Length, snapshot.Instances.Length);
        Changed?.Invoke(snapshot);
        return snapshot;
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
    }
}
