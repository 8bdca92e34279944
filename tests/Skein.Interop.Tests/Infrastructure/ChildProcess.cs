using System.ComponentModel;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Skein.Interop.Tests.Infrastructure;

/// <summary>
/// A child process whose stdout and stderr are collected line by line (and appended to a log file).
/// Disposing kills it with its whole process tree, so no test leaves a process behind, also when it fails.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    /// <summary>Variables of a developer's shell that would send a child's traffic somewhere else or change what it does.</summary>
    public static readonly string[] ProxyVariables =
        ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy", "grpc_proxy"];

    private readonly Process _process;
    private readonly List<(bool Error, string Line)> _lines = [];
    private readonly StreamWriter? _log;
    private readonly object _gate = new();
    private readonly List<(Regex Pattern, TaskCompletionSource<Match> Found)> _waiters = [];
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(string name, Process process, StreamWriter? log)
    {
        Name = name;
        _process = process;
        _log = log;
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _exited.Task.IsCompleted;

    /// <summary>Standard output so far.</summary>
    public IReadOnlyList<string> StandardOutput => Lines(error: false);

    /// <summary>Standard error so far.</summary>
    public IReadOnlyList<string> StandardError => Lines(error: true);

    /// <summary>Starts <paramref name="fileName"/>; <paramref name="environment"/> values of null remove a variable.</summary>
    public static ChildProcess Start(
        string name,
        string fileName,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?>? environment = null,
        string? workingDirectory = null,
        string? logFile = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }

        var log = logFile is null ? null : new StreamWriter(logFile, append: false) { AutoFlush = true };
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new ChildProcess(name, process, log);
        process.OutputDataReceived += (_, e) => child.OnLine(false, e.Data);
        process.ErrorDataReceived += (_, e) => child.OnLine(true, e.Data);
        process.Exited += (_, _) => child.OnExited();
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            log?.Dispose();
            process.Dispose();
            throw new InvalidOperationException($"cannot start {name} ({fileName}): {e.Message}; is it installed and on PATH?", e);
        }

        process.StandardInput.Close(); // nothing to read: a child that reads stdin sees EOF at once
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Waits for an output line (stdout or stderr) matching <paramref name="pattern"/>.</summary>
    /// <exception cref="TimeoutException">Not seen in time, or the process exited first; the message holds its output.</exception>
    public async Task<Match> WaitForLineAsync(Regex pattern, TimeSpan timeout)
    {
        var found = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            foreach (var (_, line) in _lines)
            {
                var match = pattern.Match(line);
                if (match.Success)
                {
                    return match;
                }
            }

            _waiters.Add((pattern, found));
        }

        var winner = await Task.WhenAny(found.Task, _exited.Task, Task.Delay(timeout));
        if (winner == found.Task)
        {
            return await found.Task;
        }

        // Output read after the exit event may still hold the line.
        await Task.Delay(100);
        if (found.Task.IsCompleted)
        {
            return await found.Task;
        }

        var why = HasExited ? $"exited (code {ExitCodeOrNull()})" : $"did not print it within {timeout.TotalSeconds:0} s";
        throw new TimeoutException($"{Name} {why} before a line matching /{pattern}/. Output:\n{Tail(60)}");
    }

    /// <summary>Waits for the process to exit and its output to be read; kills it when it takes longer than <paramref name="timeout"/>.</summary>
    /// <exception cref="TimeoutException">It did not exit in time (it is killed).</exception>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"{Name} did not finish within {timeout.TotalSeconds:0} s and was killed. Output:\n{Tail(60)}");
        }
    }

    /// <summary>The last <paramref name="count"/> lines of stdout and stderr, interleaved as they arrived.</summary>
    public string Tail(int count)
    {
        lock (_gate)
        {
            return string.Join('\n', _lines.Skip(Math.Max(0, _lines.Count - count)).Select(l => l.Line));
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        try
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            // Killed but not reaped in time; the kernel finishes it.
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        finally
        {
            _process.Dispose();
            lock (_gate)
            {
                _log?.Dispose();
            }
        }
    }

    public override string ToString() => $"{Name} (pid {_process.Id})";

    private void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }
        catch (Win32Exception)
        {
            // Exited meanwhile (or a child was already reaped).
        }
    }

    private int? ExitCodeOrNull()
    {
        try
        {
            return _process.ExitCode;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private IReadOnlyList<string> Lines(bool error)
    {
        lock (_gate)
        {
            return [.. _lines.Where(l => l.Error == error).Select(l => l.Line)];
        }
    }

    private void OnLine(bool error, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            _lines.Add((error, line));
            try
            {
                _log?.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // Output after disposal.
            }

            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                var match = _waiters[i].Pattern.Match(line);
                if (match.Success)
                {
                    _waiters[i].Found.TrySetResult(match);
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    private void OnExited() => _exited.TrySetResult();
}
