using System.Diagnostics;
using Skein.Cli.Local;

namespace Skein.Cli.Tests.Local;

public sealed class ProcessLauncherTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), $"skein-launch-{Guid.NewGuid():N}");
    private readonly List<ProcessRecord> started = [];

    public void Dispose()
    {
        ProcessLauncher.StopAsync(started, TimeSpan.FromSeconds(1)).GetAwaiter().GetResult();
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Start_ShellCommand_DetachedWithLogAndStoppable()
    {
        var log = Path.Combine(dir, "logs", "app.log");
        var (process, record) = ProcessLauncher.Start(new LaunchSpec
        {
            Role = "app",
            Command = ["sh", "-c", "echo \"hello $GREETING\"; echo oops >&2; exec sleep 30"],
            Environment = new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin", ["GREETING"] = "mesh", [LocalNames.RunDirEnvironment] = dir },
            LogFile = log,
        });
        started.Add(record);
        process.Dispose();

        await WaitUntilAsync(() => File.ReadAllText(log).Contains("oops\n", StringComparison.Ordinal));

        Assert.True(ProcessLauncher.IsAlive(record));
        Assert.Equal(record.Pid, SessionId(record.Pid));
        Assert.Contains("\nhello mesh\noops\n", File.ReadAllText(log), StringComparison.Ordinal);
        Assert.Contains(record.Pid, ProcessLauncher.FindTagged(dir));

        var clock = Stopwatch.StartNew();
        await ProcessLauncher.StopAsync([record], TimeSpan.FromSeconds(5));

        Assert.False(ProcessLauncher.IsAlive(record));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), "sleep should exit on SIGTERM, not wait for SIGKILL");
    }

    [Fact]
    public async Task StopAsync_IgnoresSigterm_KilledAfterGrace()
    {
        var (process, record) = ProcessLauncher.Start(new LaunchSpec
        {
            Role = "app",
            Command = ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"],
            Environment = new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" },
            LogFile = Path.Combine(dir, "stubborn.log"),
        });
        started.Add(record);
        process.Dispose();
        await Task.Delay(200);

        await ProcessLauncher.StopAsync([record], TimeSpan.FromMilliseconds(500));

        Assert.False(ProcessLauncher.IsAlive(record));
    }

    [Fact]
    public async Task Tail_Log_LastLines()
    {
        Directory.CreateDirectory(dir);
        var log = Path.Combine(dir, "t.log");
        await File.WriteAllLinesAsync(log, Enumerable.Range(1, 30).Select(i => $"line {i}"));

        Assert.Equal("line 29\nline 30", ProcessLauncher.Tail(log, 2));
        Assert.Equal("", ProcessLauncher.Tail(Path.Combine(dir, "missing.log")));
    }

    private static int SessionId(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[3], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "condition not met within 10 s");
            await Task.Delay(50);
        }
    }
}
