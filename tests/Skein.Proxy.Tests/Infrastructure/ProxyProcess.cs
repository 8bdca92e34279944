using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Skein.Proxy.Tests.Infrastructure;

/// <summary>skein-proxy as a real process (<c>dotnet skein-proxy.dll</c>), for signals, exit codes and honest memory figures.</summary>
internal sealed partial class ProxyProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();

    private string? _dir;

    private ProxyProcess(Process process)
    {
        _process = process;
    }

    public int Pid => _process.Id;

    public int OutboundPort { get; private set; }

    public int InboundPort { get; private set; }

    public int AdminPort { get; private set; }

    public int HealthPort { get; private set; }

    /// <summary>Milliseconds from process start to ready, as the proxy reported it.</summary>
    public double ReadyMilliseconds { get; private set; }

    public string Output => string.Join("\n", _output);

    public static async Task<ProxyProcess> StartAsync(string bootstrapJson, params string[] extraArgs)
    {
        var dir = Path.Combine(Path.GetTempPath(), "skein-proxy-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var bootstrap = Path.Combine(dir, "bootstrap.json");
        await File.WriteAllTextAsync(bootstrap, bootstrapJson);
        var dll = Path.Combine(AppContext.BaseDirectory, "skein-proxy.dll");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { dll, "--bootstrap", bootstrap, "--mode", "explicit", "--outbound-port", "0", "--inbound-port", "0", "--admin-port", "0", "--stats-port", "0", "--health-port", "0" }.Concat(extraArgs))
        {
            psi.ArgumentList.Add(a);
        }

        var p = new ProxyProcess(Process.Start(psi)!) { _dir = dir };
        p._process.OutputDataReceived += (_, e) => p.OnLine(e.Data);
        p._process.ErrorDataReceived += (_, e) => p.OnLine(e.Data);
        p._process.BeginOutputReadLine();
        p._process.BeginErrorReadLine();
        string line;
        try
        {
            line = await p._ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch
        {
            await p.DisposeAsync();
            throw;
        }

        var m = ReadyLine().Match(line);
        p.ReadyMilliseconds = double.Parse(m.Groups["ms"].Value, System.Globalization.CultureInfo.InvariantCulture);
        p.OutboundPort = int.Parse(m.Groups["out"].Value, System.Globalization.CultureInfo.InvariantCulture);
        p.InboundPort = int.Parse(m.Groups["in"].Value, System.Globalization.CultureInfo.InvariantCulture);
        p.AdminPort = int.Parse(m.Groups["admin"].Value, System.Globalization.CultureInfo.InvariantCulture);
        p.HealthPort = int.Parse(m.Groups["health"].Value, System.Globalization.CultureInfo.InvariantCulture);
        return p;
    }

    /// <summary>Sends SIGTERM.</summary>
    public void Terminate()
    {
        using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill!.WaitForExit(5000);
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        return _process.ExitCode;
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Peak resident set size (VmHWM) in bytes, from /proc.</summary>
    public long PeakRssBytes() => ProcStatus("VmHWM");

    public long RssBytes() => ProcStatus("VmRSS");

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
        if (_dir is not null && Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }

        return ValueTask.CompletedTask;
    }

    private long ProcStatus(string field)
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException(field + " not found");
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            _ready.TrySetException(new InvalidOperationException("skein-proxy exited before ready:\n" + Output));
            return;
        }

        _output.Enqueue(line);
        if (line.StartsWith("skein-proxy ready in", StringComparison.Ordinal))
        {
            _ready.TrySetResult(line);
        }
    }

    [GeneratedRegex(@"ready in (?<ms>[0-9.]+) ms .* outbound=(?<out>\d+) inbound=(?<in>\d+) admin=(?<admin>\d+) stats=\d+ health=(?<health>\d+)")]
    private static partial Regex ReadyLine();
}
