namespace Skein.Cli.Local;

/// <summary>
/// Where skein-control, skein-proxy and the sample apps are. The `./skein` wrapper builds them
/// into artifacts/bin/{cli,control,proxy,bookstore}; `skein up` looks beside its own directory,
/// then in the checkout's artifacts/bin (for tests), unless SKEIN_CONTROL_BIN / SKEIN_PROXY_BIN
/// name the programs (an executable or a .dll run with dotnet) and SKEIN_APPS_PATH the
/// directories put first on apps' PATH.
/// </summary>
internal sealed record MeshBinaries(IReadOnlyList<string> Control, IReadOnlyList<string> Proxy, IReadOnlyList<string> AppPath)
{
    public const string ControlVariable = "SKEIN_CONTROL_BIN";
    public const string ProxyVariable = "SKEIN_PROXY_BIN";
    public const string AppsPathVariable = "SKEIN_APPS_PATH";

    /// <summary>Finds both programs; the error says what to build or set when one is missing.</summary>
    public static (MeshBinaries? Binaries, string? Error) Locate(Func<string, string?>? environment = null, string? baseDirectory = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var roots = SearchRoots(baseDirectory ?? AppContext.BaseDirectory);
        var control = Program(environment(ControlVariable), roots, "control", "skein-control");
        var proxy = Program(environment(ProxyVariable), roots, "proxy", "skein-proxy");
        var missing = new List<string>();
        if (control is null)
        {
            missing.Add($"skein-control (build it with ./skein, or set {ControlVariable})");
        }

        if (proxy is null)
        {
            missing.Add($"skein-proxy (build it with ./skein, or set {ProxyVariable})");
        }

        if (missing.Count > 0)
        {
            return (null, $"cannot find {string.Join(" and ", missing)}; looked in {string.Join(", ", roots)}");
        }

        var appPath = environment(AppsPathVariable) is { Length: > 0 } apps
            ? apps.Split(':', StringSplitOptions.RemoveEmptyEntries).ToList()
            : roots.Select(r => Path.Combine(r, "bookstore")).Where(Directory.Exists).Take(1).ToList();
        return (new MeshBinaries(control!, proxy!, appPath), null);
    }

    /// <summary>artifacts/bin beside the CLI's own folder, then artifacts/bin of the checkout above it.</summary>
    public static IReadOnlyList<string> SearchRoots(string baseDirectory)
    {
        var roots = new List<string> { Path.GetFullPath(Path.Combine(baseDirectory, "..")) };
        for (var dir = new DirectoryInfo(baseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Skein.sln")))
            {
                roots.Add(Path.Combine(dir.FullName, "artifacts", "bin"));
                break;
            }
        }

        return roots.Distinct().ToList();
    }

    /// <summary>The command line that runs a program: the apphost, or `dotnet X.dll`.</summary>
    public static IReadOnlyList<string>? Program(string? overridePath, IReadOnlyList<string> roots, string folder, string name)
    {
        if (!string.IsNullOrEmpty(overridePath))
        {
            return File.Exists(overridePath) ? Invocation(Path.GetFullPath(overridePath)) : null;
        }

        foreach (var root in roots)
        {
            var dll = Path.Combine(root, folder, name + ".dll");
            if (File.Exists(dll))
            {
                // The dll, not the apphost: `dotnet` is found on PATH even where DOTNET_ROOT is unset.
                return Invocation(dll);
            }
        }

        return null;
    }

    private static IReadOnlyList<string> Invocation(string path) =>
        path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? [Shell.Find("dotnet") ?? "dotnet", path] : [path];
}
