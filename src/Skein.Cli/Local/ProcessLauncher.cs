using System.Diagnostics;
using System.Globalization;

namespace Skein.Cli.Local;

/// <summary>How to start one background process of the mesh.</summary>
internal sealed record LaunchSpec
{
    /// <summary>"control", "proxy" or "app": shown in errors and recorded in state.</summary>
    public required string Role { get; init; }

    /// <summary>The program (looked up on <see cref="Environment"/>'s PATH) and its arguments.</summary>
    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>The whole environment of the process (nothing is inherited from the CLI).</summary>
    public required IReadOnlyDictionary<string, string> Environment { get; init; }

    /// <summary>stdout and stderr are appended here.</summary>
    public required string LogFile { get; init; }

    /// <summary>Run inside this network namespace (`ip netns exec`, which also bind-mounts /etc/netns/NAME).</summary>
    public string? Netns { get; init; }

    /// <summary>Run as this uid and gid, with no supplementary groups (`setpriv`).</summary>
    public int? Uid { get; init; }

    public string WorkingDirectory { get; init; } = "/";
}

/// <summary>
/// Starts detached processes that outlive `skein up` (own session and process group, stdin from
/// /dev/null, output to a log file) and stops them again by pid, checking the start time so a
/// recycled pid is never signalled.
/// </summary>
internal static class ProcessLauncher
{
    // sh opens the log, then execs through setsid, ip netns exec and setpriv: every step execs, so
    // the pid .NET sees is the pid of the final program and the leader of its own process group.
    private const string Trampoline = "log=\"$1\"; shift; exec setsid \"$@\" </dev/null >>\"$log\" 2>&1";

    /// <summary>The full argument vector after `sh -c TRAMPOLINE skein-launch LOG`.</summary>
    public static IReadOnlyList<string> BuildArgv(LaunchSpec spec, string ip = "ip", string setpriv = "setpriv")
    {
        var argv = new List<string>();
        if (spec.Netns is not null)
        {
            argv.AddRange([ip, "netns", "exec", spec.Netns]);
        }

        if (spec.Uid is { } uid)
        {
            argv.AddRange([setpriv, $"--reuid={uid}", $"--regid={uid}", "--clear-groups", "--"]);
        }

        argv.AddRange(spec.Command);
        return argv;
    }

    /// <summary>Starts the process; returns the live handle and the record to keep in state.</summary>
    public static (Process Process, ProcessRecord Record) Start(LaunchSpec spec)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(spec.LogFile)!);
        File.AppendAllText(spec.LogFile, $"--- {DateTimeOffset.Now:O} {string.Join(' ', spec.Command)}\n");
        var start = new ProcessStartInfo(Shell.Require("sh", "dash"))
        {
            UseShellExecute = false,
            WorkingDirectory = spec.WorkingDirectory,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(Trampoline);
        start.ArgumentList.Add("skein-launch");
        start.ArgumentList.Add(spec.LogFile);
        foreach (var arg in BuildArgv(spec, Shell.Require("ip", "iproute2"), spec.Uid is null ? "setpriv" : Shell.Require("setpriv", "util-linux")))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment.Clear();
        foreach (var (key, value) in spec.Environment)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new ShellException($"could not start {spec.Role}");
        var startTime = StartTime(process.Id) ?? 0;
        return (process, new ProcessRecord(spec.Role, process.Id, startTime, spec.LogFile));
    }

    /// <summary>A process's start time in clock ticks since boot, or null when it is gone.</summary>
    public static long? StartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // fields[0] is field 3 (state); starttime is field 22.
            return fields[0] == "Z" ? null : long.Parse(fields[19], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>True when the recorded process is still the one that runs under its pid.</summary>
    public static bool IsAlive(ProcessRecord record) =>
        record.Pid > 0 && record.StartTime != 0 && StartTime(record.Pid) == record.StartTime;

    /// <summary>
    /// SIGTERM to each process group, then SIGKILL to whatever is still there after the grace
    /// period. Only processes whose start time still matches are touched.
    /// </summary>
    public static async Task StopAsync(IReadOnlyList<ProcessRecord> records, TimeSpan grace)
    {
        var live = records.Where(IsAlive).ToList();
        foreach (var record in live)
        {
            // The launcher made each process its own group leader: signal the group, children included.
            if (!Native.Signal(-record.Pid, Native.SigTerm))
            {
                Native.Signal(record.Pid, Native.SigTerm);
            }
        }

        var deadline = Stopwatch.StartNew();
        while (live.Count > 0 && deadline.Elapsed < grace)
        {
            await Task.Delay(50).ConfigureAwait(false);
            live = live.Where(IsAlive).ToList();
        }

        foreach (var record in live)
        {
            if (!Native.Signal(-record.Pid, Native.SigKill))
            {
                Native.Signal(record.Pid, Native.SigKill);
            }
        }

        var killDeadline = Stopwatch.StartNew();
        while (live.Count > 0 && killDeadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(50).ConfigureAwait(false);
            live = live.Where(IsAlive).ToList();
        }
    }

    /// <summary>The last lines of a log, for error messages.</summary>
    public static string Tail(string logFile, int lines = 20)
    {
        try
        {
            var all = File.ReadAllLines(logFile);
            return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>
    /// Processes whose environment carries SKEIN_RUN_DIR=runDir: everything a run started, found
    /// even when its state file is lost.
    /// </summary>
    public static IReadOnlyList<int> FindTagged(string runDir)
    {
        var tag = $"{LocalNames.RunDirEnvironment}={Path.GetFullPath(runDir)}";
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                var environ = File.ReadAllText(Path.Combine(dir, "environ"));
                if (environ.Split('\0').Contains(tag, StringComparer.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Gone, or not ours to read.
            }
        }

        return found;
    }
}
