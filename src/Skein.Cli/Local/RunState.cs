using System.Text.Json;
using System.Text.Json.Serialization;

namespace Skein.Cli.Local;

/// <summary>
/// What a local mesh created on this host, written to &lt;run-dir&gt;/state.json before each
/// creation step so `skein down` can undo all of it, even after `skein up` crashed half way.
/// A journal, mutated only through <see cref="StateStore.Update"/>.
/// </summary>
internal sealed class RunState
{
    public const int CurrentVersion = 1;

    public int Version { get; set; } = CurrentVersion;

    /// <summary>"netns" (a network namespace per pod) or "loopback" (processes on 127.0.0.1).</summary>
    public string Mode { get; set; } = RuntimeModes.Netns;

    public DateTimeOffset StartedAt { get; set; }

    /// <summary>The bridge, recorded before it is created; null when this run did not create one.</summary>
    public string? Bridge { get; set; }

    /// <summary>iptables rules added in the root namespace, recorded before each is added.</summary>
    public List<RootRule> RootRules { get; set; } = [];

    /// <summary>skein-control's API, e.g. http://127.0.0.1:15014.</summary>
    public string? ControlApi { get; set; }

    public ProcessRecord? Control { get; set; }

    /// <summary>How skein-control was started, so `skein control-plane restart` can start it again the same way.</summary>
    public LaunchSpec? ControlLaunch { get; set; }

    /// <summary>The `skein up` process itself while it runs: `skein down` stops it first so it creates nothing more.</summary>
    public ProcessRecord? Up { get; set; }

    public List<PodRecord> Pods { get; set; } = [];

    /// <summary>Every pod address this run has handed out, so none is reused.</summary>
    [JsonIgnore]
    public IEnumerable<string> Addresses => Pods.Where(p => p.Address is not null).Select(p => p.Address!);
}

internal static class RuntimeModes
{
    public const string Netns = "netns";
    public const string Loopback = "loopback";
}

/// <summary>One workload replica and everything made for it.</summary>
internal sealed class PodRecord
{
    public required string Name { get; set; }

    public required string Workload { get; set; }

    public required string Namespace { get; set; }

    public string? Version { get; set; }

    public string? Netns { get; set; }

    public string? HostVeth { get; set; }

    public string? Address { get; set; }

    /// <summary>The /etc/netns/&lt;netns&gt; directory holding the pod's hosts file.</summary>
    public string? EtcDir { get; set; }

    /// <summary>Loopback mode: the sidecar's ports (outbound, inbound, admin, stats, health) and the app ports it forwards to.</summary>
    public ProxyPorts? Ports { get; set; }

    public ProcessRecord? Proxy { get; set; }

    public ProcessRecord? App { get; set; }

    /// <summary>pending, network, starting-proxy, starting-app, running, failed.</summary>
    public string State { get; set; } = PodStates.Pending;

    public string? Error { get; set; }
}

internal static class PodStates
{
    public const string Pending = "pending";
    public const string Network = "network";
    public const string StartingProxy = "starting-proxy";
    public const string StartingApp = "starting-app";
    public const string Running = "running";
    public const string Failed = "failed";
}

/// <summary>
/// A process this run started. The start time (clock ticks since boot, /proc/PID/stat field 22)
/// tells it apart from an unrelated process that later got the same pid.
/// </summary>
internal sealed record ProcessRecord(string Role, int Pid, long StartTime, string LogFile);

/// <summary>An iptables rule in the root namespace: `iptables -t Table -A Chain Spec...` (removed with -D).</summary>
internal sealed record RootRule(string Table, string Chain, IReadOnlyList<string> Spec);

/// <summary>A sidecar's listening ports; in netns mode they are the defaults in every pod.</summary>
internal sealed record ProxyPorts(int Outbound, int Inbound, int Admin, int Stats, int Health)
{
    public static ProxyPorts Default { get; } = new(15001, 15006, 15000, 15090, 15021);

    /// <summary>Extra app-port mapping in loopback mode: declared port → port the app really listens on.</summary>
    public IReadOnlyDictionary<int, int>? AppPorts { get; init; }
}

/// <summary>Reads and writes state.json atomically; a missing or corrupt file is reported, never thrown.</summary>
internal sealed class StateStore
{
    public const string FileName = "state.json";

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly Lock gate = new();

    public StateStore(string runDir, RunState state)
    {
        RunDir = runDir;
        State = state;
    }

    public string RunDir { get; }

    public RunState State { get; }

    public string FilePath => Path.Combine(RunDir, FileName);

    public static string PathIn(string runDir) => Path.Combine(runDir, FileName);

    /// <summary>Changes the state and writes it before returning, so the change is on disk before the step it announces.</summary>
    public void Update(Action<RunState> change)
    {
        lock (gate)
        {
            change(State);
            Write(RunDir, State);
        }
    }

    /// <summary>Reads a value under the lock (pods are started in parallel).</summary>
    public T Read<T>(Func<RunState, T> read)
    {
        lock (gate)
        {
            return read(State);
        }
    }

    public static void Write(string runDir, RunState state)
    {
        Directory.CreateDirectory(runDir);
        var path = PathIn(runDir);
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, state, Options);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The state in a run directory; null with a reason when it is missing or unreadable.</summary>
    public static (RunState? State, string? Problem) Load(string runDir)
    {
        var path = PathIn(runDir);
        if (!File.Exists(path))
        {
            return (null, $"{path} does not exist");
        }

        try
        {
            var state = JsonSerializer.Deserialize<RunState>(File.ReadAllText(path), Options);
            return state is null ? (null, $"{path} is empty") : (state, null);
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return (null, $"{path} is unreadable: {ex.Message}");
        }
    }

    public static string Serialize(RunState state) => JsonSerializer.Serialize(state, Options);

    public static RunState? Deserialize(string json) => JsonSerializer.Deserialize<RunState>(json, Options);
}
