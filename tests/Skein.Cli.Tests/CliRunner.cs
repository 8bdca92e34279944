using System.Diagnostics;

namespace Skein.Cli.Tests;

/// <summary>Runs the real `skein` CLI (built next to the tests) as a process, as a user would.</summary>
internal static class CliRunner
{
    public static string RepoRoot { get; } = FindRoot();

    public static (int ExitCode, string Stdout, string Stderr) Run(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepoRoot,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "skein.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"skein {string.Join(' ', args)} did not finish in 60 s");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    public static string TempFile(string text, string extension = ".yaml")
    {
        var path = Path.Combine(Path.GetTempPath(), $"skein-cli-{Guid.NewGuid():N}{extension}");
        File.WriteAllText(path, text);
        return path;
    }

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
