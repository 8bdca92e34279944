using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Skein.Bench.ControlPlaneScale;

/// <summary>Memory and CPU of a process, from /proc.</summary>
internal sealed record ProcSample(long RssKiB, long HwmKiB, double CpuSeconds)
{
    public static ProcSample Read(int pid, int clockTicks)
    {
        long rss = 0, hwm = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = KiB(line);
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                hwm = KiB(line);
            }
        }

        // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return new ProcSample(rss, hwm, (double)ticks / clockTicks);

        static long KiB(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }
}

/// <summary>The managed heap figures the startup hook reports from inside skein-control.</summary>
/// <param name="Generations">Size after the last GC of gen0, gen1, gen2, LOH and POH.</param>
internal sealed record HeapSample(long TotalMemory, long HeapSize, long Committed, long PhasePeakHeapSize, long PeakHeapSize, long PeakTotalMemory, long PeakCommitted, long Allocated, int Gen0, int Gen1, int Gen2, double PauseMs, bool ServerGc, long[] Generations)
{
    public static HeapSample Parse(JsonElement e) => new(
        e.GetProperty("totalMemory").GetInt64(),
        e.GetProperty("heapSize").GetInt64(),
        e.GetProperty("committed").GetInt64(),
        e.GetProperty("phasePeakHeapSize").GetInt64(),
        e.GetProperty("peakHeapSize").GetInt64(),
        e.GetProperty("peakTotalMemory").GetInt64(),
        e.GetProperty("peakCommitted").GetInt64(),
        e.GetProperty("allocated").GetInt64(),
        e.GetProperty("gen0").GetInt32(),
        e.GetProperty("gen1").GetInt32(),
        e.GetProperty("gen2").GetInt32(),
        e.GetProperty("pauseMs").GetDouble(),
        e.GetProperty("serverGc").GetBoolean(),
        [.. e.GetProperty("generations").EnumerateArray().Select(g => g.GetInt64())]);
}

/// <summary>
/// skein-control as its own process: started on loopback with free ports and a config directory, its log kept in
/// a file, its pid written for the calling script's cleanup, the startup hook of this assembly loaded to read its
/// managed heap, and stopped with SIGTERM (then SIGKILL) at the end.
/// </summary>
internal sealed partial class ControlPlaneProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _probe;
    private readonly string _pidFile;
    private readonly Task _logPump;
    private readonly StreamWriter _log;
    private int _probeId;

    private ControlPlaneProcess(Process process, string probe, StreamWriter log, Task logPump, int xdsPort, int httpPort, string pidFile)
    {
        _pidFile = pidFile;
        _process = process;
        _probe = probe;
        _log = log;
        _logPump = logPump;
        XdsPort = xdsPort;
        HttpPort = httpPort;
    }

    public int Pid => _process.Id;

    public int XdsPort { get; }

    public int HttpPort { get; }

    public static async Task<ControlPlaneProcess> StartAsync(string executable, string configDir, string workDir, CancellationToken cancel)
    {
        var probe = Path.Combine(workDir, "probe");
        var psi = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--config-dir", configDir, "--xds-address", "127.0.0.1", "--xds-port", "0", "--secure-xds-port", "0", "--http-address", "127.0.0.1", "--http-port", "0" })
        {
            psi.ArgumentList.Add(arg);
        }

        psi.Environment["DOTNET_STARTUP_HOOKS"] = typeof(StartupHook).Assembly.Location;
        psi.Environment["SKEIN_BENCH_PROBE"] = probe;
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {executable}");
        var pidFile = Path.Combine(workDir, "skein-control.pid");
        await File.WriteAllTextAsync(pidFile, process.Id.ToString(CultureInfo.InvariantCulture), cancel);

        var log = new StreamWriter(Path.Combine(workDir, "skein-control.log")) { AutoFlush = false };
        var started = new TaskCompletionSource<(int Xds, int Http)>(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task Pump(StreamReader reader)
        {
            while (await reader.ReadLineAsync(CancellationToken.None) is { } line)
            {
                lock (log)
                {
                    log.WriteLine(line);
                }

                if (StartedLine().Match(line) is { Success: true } m)
                {
                    started.TrySetResult((int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)));
                }
            }
        }

        var pump = Task.WhenAll(Pump(process.StandardOutput), Pump(process.StandardError));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            var ports = await started.Task.WaitAsync(timeout.Token);
            return new ControlPlaneProcess(process, probe, log, pump, ports.Xds, ports.Http, pidFile);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            await process.WaitForExitAsync(CancellationToken.None);
            File.Delete(pidFile);
            throw new InvalidOperationException($"skein-control did not start within 60 s (exited: {process.HasExited}); see {workDir}/skein-control.log");
        }
    }

    public ProcSample Sample(int clockTicks) => ProcSample.Read(_process.Id, clockTicks);

    /// <summary>Asks the startup hook for the managed heap figures (after a full collection when <paramref name="collect"/>).</summary>
    public async Task<HeapSample> HeapAsync(bool collect, CancellationToken cancel)
    {
        var id = (collect ? "gc-" : "sample-") + Interlocked.Increment(ref _probeId).ToString(CultureInfo.InvariantCulture);
        await File.WriteAllTextAsync(_probe + ".req.tmp", id, cancel);
        File.Move(_probe + ".req.tmp", _probe + ".req", overwrite: true);
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(50, cancel);
            try
            {
                using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(_probe + ".json", cancel));
                if (doc.RootElement.GetProperty("id").GetString() == id)
                {
                    return HeapSample.Parse(doc.RootElement);
                }
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
            }
        }

        throw new TimeoutException("the startup hook in skein-control did not answer (is DOTNET_STARTUP_HOOKS honoured?)");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM: skein-control shuts down gracefully.
            using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync(CancellationToken.None);
            }

            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _process.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill();
                await _process.WaitForExitAsync(CancellationToken.None);
            }
        }

        File.Delete(_pidFile); // the process is gone: the script's cleanup must not signal a reused pid
        await _logPump;
        lock (_log)
        {
            _log.Dispose();
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"skein-control started: xds=[0-9.]+:(\d+) http=[0-9.]+:(\d+)")]
    private static partial Regex StartedLine();
}
