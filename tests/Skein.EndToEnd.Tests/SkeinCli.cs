using System.Diagnostics;
using System.Text;

namespace Skein.EndToEnd.Tests;

/// <summary>Runs the repository's `./skein` wrapper (which builds what it needs) as a user would.</summary>
internal static class SkeinCli
{
    public static string RepoRoot { get; } = FindRoot();

    public static CliResult Run(TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(RepoRoot, "skein"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepoRoot,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["NO_COLOR"] = "1";
        using var process = Process.Start(start)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"skein {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:0} s\n{stdout}\n{stderr}");
        }

        process.WaitForExit();
        return new CliResult(process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs a shell command inside a pod's network namespace (`skein exec POD -- sh -c CMD`).</summary>
    public static CliResult Exec(string runDir, string pod, string shell, TimeSpan timeout) =>
        Run(timeout, "exec", pod, "--run-dir", runDir, "--", "sh", "-c", shell);

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Skein.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Skein.sln not found above the test directory");
    }
}

public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}
