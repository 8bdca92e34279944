using System.Diagnostics;

namespace Skein.Cli.Local;

/// <summary>The result of a host command.</summary>
internal sealed record ShellResult(int ExitCode, string Stdout, string Stderr)
{
    public bool Ok => ExitCode == 0;
}

/// <summary>A host command that failed; the message carries the command line and its stderr.</summary>
internal sealed class ShellException(string message) : Exception(message);

/// <summary>
/// Runs host tools (ip, iptables, ...) with an argument list, never through a shell, and with a
/// bounded time. Tools are looked up in the sbin directories too, which a user's PATH may lack.
/// </summary>
internal static class Shell
{
    private static readonly string[] ExtraDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The absolute path of a tool, or null when it is not installed.</summary>
    public static string? Find(string tool)
    {
        if (tool.Contains('/'))
        {
            return File.Exists(tool) ? tool : null;
        }

        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        foreach (var dir in path.Concat(ExtraDirectories))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>The absolute path of a tool the runtime cannot work without.</summary>
    /// <exception cref="ShellException">The tool is not installed.</exception>
    public static string Require(string tool, string package) =>
        Find(tool) ?? throw new ShellException($"`{tool}` is not installed (Debian package {package}: apt-get install -y {package})");

    /// <summary>Runs a tool and returns its exit code and output.</summary>
    public static ShellResult Run(string tool, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(Find(tool) ?? tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new ShellException($"could not start {tool}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }

        if (!process.WaitForExit(timeout ?? DefaultTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new ShellException($"{Describe(tool, start.ArgumentList)} did not finish in {(timeout ?? DefaultTimeout).TotalSeconds:0} s");
        }

        process.WaitForExit();
        return new ShellResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs a tool and throws with its stderr when it fails.</summary>
    /// <exception cref="ShellException">The tool exited non-zero.</exception>
    public static string Check(string tool, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        var list = args.ToList();
        var result = Run(tool, list, stdin, timeout);
        if (!result.Ok)
        {
            throw new ShellException($"{Describe(tool, list)} failed ({result.ExitCode}): {result.Stderr.Trim()}");
        }

        return result.Stdout;
    }

    public static string Describe(string tool, IEnumerable<string> args) =>
        string.Join(' ', new[] { Path.GetFileName(tool) }.Concat(args.Select(a => a.Contains(' ') || a.Length == 0 ? $"'{a}'" : a)));
}
