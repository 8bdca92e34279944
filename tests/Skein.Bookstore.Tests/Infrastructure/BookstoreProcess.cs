using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Skein.Bookstore.Tests.Infrastructure;

/// <summary>
/// One real <c>bookstore</c> process on a free loopback port (<c>--port 0</c>; the port is
/// read from its "listening on" line). Disposing kills it; it also exits by itself when the
/// test host dies (<c>--parent-pid</c>), so no test leaves a process behind.
/// </summary>
internal sealed partial class BookstoreProcess : IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Variables a developer's shell may carry that would change what the child does.</summary>
    private static readonly string[] ClearedEnvironment =
    [
        "BOOKSTORE_ROLE", "PORT", "BOOKSTORE_LISTEN", "VERSION", "INSTANCE", "BOOKSTORE_QUIET",
        "FAIL_PERCENT", "FAIL_STATUS", "DELAY_MS", "CATALOG_URL", "REVIEWS_URL", "RATINGS_URL",
        "UPSTREAM_TIMEOUT_MS", "BOOKSTORE_PARENT_PID", "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS",
        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy",
    ];

    private readonly Process _process;
    private readonly List<string> _output = [];
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private BookstoreProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }

    /// <summary>http://127.0.0.1:PORT</summary>
    public Uri Url { get; private set; } = null!;

    public int Port => Url.Port;

    /// <summary>Everything the process wrote so far, stdout and stderr interleaved.</summary>
    public IReadOnlyList<string> Output
    {
        get
        {
            lock (_output)
            {
                return [.. _output];
            }
        }
    }

    /// <summary>Starts <c>bookstore --role ROLE</c> with the given environment and waits until it listens.</summary>
    public static async Task<BookstoreProcess> StartAsync(
        string role, IReadOnlyDictionary<string, string>? environment = null, params string[] arguments)
    {
        var start = new ProcessStartInfo(DotnetPath())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "bookstore.dll"));
        foreach (var argument in (string[])["--role", role, "--listen", "127.0.0.1", "--port", "0", "--parent-pid", Environment.ProcessId.ToString(), .. arguments])
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var name in ClearedEnvironment)
        {
            start.Environment.Remove(name);
        }
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var label = environment is not null && environment.TryGetValue("INSTANCE", out var instance) ? instance : role;
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var bookstore = new BookstoreProcess(process, label);
        process.OutputDataReceived += (_, e) => bookstore.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => bookstore.OnLine(e.Data);
        process.Exited += (_, _) => bookstore._listening.TrySetException(
            new InvalidOperationException($"bookstore {label} exited before listening:\n{string.Join('\n', bookstore.Output)}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            bookstore.Url = await bookstore._listening.Task.WaitAsync(StartTimeout);
            return bookstore;
        }
        catch (TimeoutException)
        {
            await bookstore.DisposeAsync();
            throw new TimeoutException($"bookstore {label} did not listen within {StartTimeout}:\n{string.Join('\n', bookstore.Output)}");
        }
        catch
        {
            await bookstore.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs the binary to completion (for argument errors) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo(DotnetPath())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "bookstore.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var name in ClearedEnvironment)
        {
            start.Environment.Remove(name);
        }
        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(StartTimeout);
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            return (process.ExitCode, await stdout + await stderr);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>Waits until a line of output satisfies <paramref name="predicate"/>; false on timeout.</summary>
    public async Task<bool> WaitForOutputAsync(Func<string, bool> predicate, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (Output.Any(predicate))
            {
                return true;
            }
            await Task.Delay(25);
        }
        return Output.Any(predicate);
    }

    /// <summary>A loopback port nobody listens on (bound, then released).</summary>
    public static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (InvalidOperationException)
        {
            // Never started or already gone.
        }
        catch (OperationCanceledException)
        {
            // Killed but not reaped in time; the OS finishes it.
        }
        finally
        {
            _process.Dispose();
        }
    }

    public override string ToString() => $"{Name} {Url}";

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.Add(line);
        }
        var match = ListeningLine().Match(line);
        if (match.Success)
        {
            _listening.TrySetResult(new Uri($"http://127.0.0.1:{match.Groups[1].Value}"));
        }
    }

    private static string DotnetPath()
    {
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host))
        {
            return host;
        }
        var current = Environment.ProcessPath;
        return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
    }

    [GeneratedRegex(@"^bookstore \S+ \S+ listening on http://[^\s]*:(\d+)$")]
    private static partial Regex ListeningLine();
}
