using System.CommandLine;
using Skein.Api.Analysis;
using Skein.Api.Loading;
using Skein.Api.Validation;
using Skein.Cli.Local;
using Skein.Cli.Output;
using Spectre.Console;

namespace Skein.Cli.Commands;

/// <summary>`skein up -f DIR`: a whole mesh on this machine, one network namespace per workload replica.</summary>
internal static class UpCommand
{
    public static Command Create()
    {
        var files = CommonOptions.Files("Files or directories of config (Workloads, Services, routing) to run (repeatable).");
        var recursive = CommonOptions.Recursive();
        var runDir = LocalOptions.RunDir();
        var loopback = new Option<bool>("--loopback")
        {
            Description = "Run every pod as processes on 127.0.0.1, apps using their sidecar as HTTP proxy (the default without root).",
        };
        var wait = new Option<bool>("--wait")
        {
            Description = "Return once every app is ready (--wait=false returns once the sidecars are ready and the apps started).",
            DefaultValueFactory = _ => true,
        };
        var timeout = new Option<int>("--timeout")
        {
            Description = "Seconds to wait for skein-control, each sidecar and each app to become ready.",
            DefaultValueFactory = _ => 60,
        };
        var certTtl = new Option<string?>("--cert-ttl")
        {
            Description = "Lifetime of the sidecars' workload certificates (Go duration: 90s, 1h; default: the CA's, 24h). Sidecars renew at half of it.",
        };
        var command = new Command("up", "Run a mesh on this machine: skein-control, and for each Workload replica a pod with its sidecar and app.")
        {
            files,
            recursive,
            runDir,
            loopback,
            wait,
            timeout,
            certTtl,
        };
        command.SetAction((parse, cancel) =>
        {
            TimeSpan? lifetime = null;
            if (parse.GetValue(certTtl) is { } text)
            {
                if (!Skein.Api.Model.Duration.TryParse(text, out var parsed) || parsed.Value < TimeSpan.FromSeconds(10))
                {
                    Console.Error.WriteLine($"skein up: --cert-ttl {text}: expected a duration of at least 10s, such as 90s or 1h");
                    return Task.FromResult(ExitCodes.Usage);
                }

                lifetime = parsed.Value;
            }

            return RunAsync(
                parse.GetValue(files)!, parse.GetValue(recursive), parse.GetValue(runDir), parse.GetValue(loopback), parse.GetValue(wait), parse.GetValue(timeout), cancel, lifetime);
        });
        return command;
    }

    /// <summary>`skein up` itself; `skein demo` runs it with the sample mesh.</summary>
    public static async Task<int> RunAsync(
        string[] paths, bool recursive, string? runDir, bool loopback, bool wait, int timeout, CancellationToken cancel, TimeSpan? certificateLifetime = null)
    {
        var missing = paths.Where(p => !File.Exists(p) && !Directory.Exists(p)).ToList();
        if (missing.Count > 0)
        {
            Console.Error.WriteLine($"skein up: no such file or directory: {string.Join(", ", missing)}");
            return ExitCodes.Usage;
        }

        var loaded = ConfigLoader.LoadPaths(paths, recursive);
        var report = ConfigAnalyzer.Analyze(loaded);
        if (report.Diagnostics.Count > 0)
        {
            DiagnosticPrinter.Print(report, OutputFormat.Text, Console.Out);
        }

        if (report.Diagnostics.Any(d => d.Severity == Severity.Error))
        {
            Console.Error.WriteLine("skein up: the config has errors; nothing was started");
            return ExitCodes.Errors;
        }

        var useLoopback = loopback || !Native.IsRoot;
        var request = new UpRequest
        {
            Resources = loaded.Resources,
            ConfigFiles = LocalRuntime.ConfigFilesOf(paths, recursive),
            RunDir = LocalOptions.ResolveRunDir(runDir),
            Loopback = useLoopback,
            Wait = wait,
            ReadyTimeout = TimeSpan.FromSeconds(Math.Max(1, timeout)),
            CertificateLifetime = certificateLifetime,
        };

        var console = Terminal.Create(Console.Out);
        UpResult result;
        try
        {
            result = console.Profile.Capabilities.Interactive
                ? await SpectreProgress.RunAsync(console, progress => LocalRuntime.UpAsync(request, progress, cancel)).ConfigureAwait(false)
                : await LocalRuntime.UpAsync(request, new PlainProgress(Console.Out), cancel).ConfigureAwait(false);
        }
        catch (LocalRuntimeException ex)
        {
            Console.Error.WriteLine($"skein up: {ex.Message}");
            return ExitCodes.Errors;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("skein up: interrupted; removing what was started");
            await DownAsync(request.RunDir).ConfigureAwait(false);
            return ExitCodes.Errors;
        }

        if (result.State.Pods.Count > 0)
        {
            PodTable.Print(console, result.State);
        }

        if (!result.Ok)
        {
            foreach (var error in result.Errors)
            {
                Console.Error.WriteLine($"skein up: {error}");
            }

            if (result.Fatal)
            {
                // Nothing useful is left running without the control plane: undo it all, keep the logs.
                Console.Error.WriteLine($"skein up: removing what was started; logs stay in {Path.Combine(request.RunDir, "logs")}");
                await DownAsync(request.RunDir).ConfigureAwait(false);
            }
            else
            {
                Console.Error.WriteLine($"skein up: the mesh is partly up; logs are in {Path.Combine(request.RunDir, "logs")}; `skein down` removes it");
            }

            return ExitCodes.Errors;
        }

        console.MarkupLine($"[green]✔ mesh is up[/] ({result.State.Pods.Count} pods, control plane {Markup.Escape(result.State.ControlApi ?? "")}, logs in {Markup.Escape(Path.Combine(request.RunDir, "logs"))})");
        if (TryHint(loaded.Resources, result.State) is { } hint)
        {
            console.MarkupLine($"  try:  [bold]{Markup.Escape(hint)}[/]");
        }

        console.MarkupLine("  stop: [bold]skein down[/]");
        return ExitCodes.Ok;
    }

    /// <summary>A first call to make: from a client pod (or any pod) to the frontend service (or the first one).</summary>
    private static string? TryHint(IEnumerable<Skein.Api.Model.Resource> resources, RunState state)
    {
        var services = resources.OfType<Skein.Api.Model.Service>().Where(s => s.Spec?.Ports is { Count: > 0 }).ToList();
        var service = services.FirstOrDefault(s => s.Name == "frontend") ?? services.FirstOrDefault();
        var pod = state.Pods.FirstOrDefault(p => p.Workload.Contains("client", StringComparison.Ordinal)) ?? state.Pods.FirstOrDefault();
        if (service is null || pod is null)
        {
            return null;
        }

        var host = service.Namespace == pod.Namespace ? service.Name : $"{service.Name}.{service.Namespace}";
        return $"skein exec {pod.Name} -- curl -s http://{host}:{service.Spec!.Ports![0].Port}/";
    }

    private static async Task DownAsync(string runDir)
    {
        var down = await Teardown.DownAsync(runDir, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        foreach (var problem in down.Problems)
        {
            Console.Error.WriteLine($"skein up: cleaning up: {problem}");
        }
    }
}

/// <summary>Options and helpers the local-runtime verbs share.</summary>
internal static class LocalOptions
{
    public const string DefaultRunDir = "/run/skein";

    public static Option<string?> RunDir() => new("--run-dir")
    {
        Description = $"Where the local mesh keeps its state and logs (default {DefaultRunDir} as root, else $XDG_RUNTIME_DIR/skein or /tmp/skein-$USER).",
    };

    public static string ResolveRunDir(string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            return Path.GetFullPath(value);
        }

        if (Native.IsRoot)
        {
            return DefaultRunDir;
        }

        return Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } xdg
            ? Path.Combine(xdg, "skein")
            : Path.Combine(Path.GetTempPath(), $"skein-{Environment.UserName}");
    }
}

/// <summary>The table of pods `skein up` and `skein status` print.</summary>
internal static class PodTable
{
    public static void Print(IAnsiConsole console, RunState state)
    {
        var table = new Table().Border(TableBorder.Simple);
        table.AddColumns("POD", "ADDRESS", "WORKLOAD", "NAMESPACE", "VERSION", "STATE");
        foreach (var pod in state.Pods)
        {
            var colour = pod.State switch { PodStates.Running => "green", PodStates.Failed => "red", _ => "yellow" };
            table.AddRow(
                Markup.Escape(pod.Name),
                Markup.Escape(pod.Address ?? "-"),
                Markup.Escape(pod.Workload),
                Markup.Escape(pod.Namespace),
                Markup.Escape(pod.Version ?? "-"),
                $"[{colour}]{Markup.Escape(pod.State)}[/]");
        }

        console.Write(table);
    }
}
