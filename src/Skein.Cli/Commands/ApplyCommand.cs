using System.CommandLine;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Skein.Api.Loading;
using Skein.Api.Validation;
using Skein.Cli.Local;
using Skein.Cli.Output;
using Spectre.Console;

namespace Skein.Cli.Commands;

/// <summary>
/// `skein apply -f` / `skein delete -f`: sends config to skein-control, which validates it as
/// `skein analyze` does and applies all of a file or none of it.
/// </summary>
internal static class ApplyCommand
{
    public static Command Create(bool delete)
    {
        var verb = delete ? "delete" : "apply";
        var files = CommonOptions.Files($"Files or directories of YAML/JSON config to {verb} (repeatable).");
        var recursive = CommonOptions.Recursive();
        var output = CommonOptions.Output();
        var controlPlane = ControlPlaneConnection.Option();
        var runDir = LocalOptions.RunDir();
        var command = new Command(verb, delete
            ? "Delete the resources named in the files from the control plane."
            : "Create or update config in the control plane; invalid config is refused with file:line:col and nothing changes.")
        {
            files, recursive, output, controlPlane, runDir,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var paths = ExpandPaths(parse.GetValue(files)!, parse.GetValue(recursive));
            if (paths is null)
            {
                return ExitCodes.Usage;
            }

            // Check locally first: same messages as the server, and nothing is sent when a file is bad.
            var local = ConfigLoader.LoadPaths(paths);
            if (!delete && local.HasErrors)
            {
                Print(local.Diagnostics, parse.GetValue(output));
                return ExitCodes.Errors;
            }

            using var http = ControlPlaneConnection.Client(ControlPlaneConnection.Resolve(parse.GetValue(controlPlane), parse.GetValue(runDir)));
            var console = Terminal.Create(Console.Out);
            var failed = false;
            var namesChanged = false;
            foreach (var path in paths)
            {
                using var request = new HttpRequestMessage(delete ? HttpMethod.Delete : HttpMethod.Post, $"/api/v1/config?file={Uri.EscapeDataString(path)}")
                {
                    Content = new StringContent(await File.ReadAllTextAsync(path, cancel).ConfigureAwait(false), Encoding.UTF8, new MediaTypeHeaderValue("application/yaml")),
                };
                string body;
                int status;
                try
                {
                    using var response = await http.SendAsync(request, cancel).ConfigureAwait(false);
                    body = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
                    status = (int)response.StatusCode;
                }
                catch (HttpRequestException ex)
                {
                    Console.Error.WriteLine($"skein {verb}: cannot reach the control plane at {http.BaseAddress}: {ex.Message}");
                    return ExitCodes.Usage;
                }

                if (parse.GetValue(output) == OutputFormat.Json)
                {
                    Console.Out.WriteLine(body);
                }

                using var doc = JsonDocument.Parse(body);
                if (status != 200)
                {
                    failed = true;
                    if (parse.GetValue(output) != OutputFormat.Json)
                    {
                        console.MarkupLine($"[red]error[/] {Markup.Escape(path)}: {Markup.Escape(doc.RootElement.GetProperty("error").GetString() ?? "")}");
                        PrintServerDiagnostics(console, doc.RootElement, "diagnostics");
                    }

                    continue;
                }

                foreach (var result in doc.RootElement.GetProperty("results").EnumerateArray())
                {
                    namesChanged |= result.GetProperty("action").GetString() != "unchanged"
                        && result.GetProperty("kind").GetString() is "Service" or "ServiceEntry";
                }

                if (parse.GetValue(output) != OutputFormat.Json)
                {
                    foreach (var result in doc.RootElement.GetProperty("results").EnumerateArray())
                    {
                        var action = result.GetProperty("action").GetString();
                        console.MarkupLine($"{Markup.Escape(result.GetProperty("kind").GetString()!.ToLowerInvariant())}/{Markup.Escape(result.GetProperty("name").GetString()!)} [{(action == "unchanged" ? "grey" : "green")}]{Markup.Escape(action!)}[/]");
                    }

                    PrintServerDiagnostics(console, doc.RootElement, "warnings");
                }
            }

            if (namesChanged)
            {
                // A new or removed service name must resolve (or stop resolving) in the pods of a local mesh.
                await RefreshLocalHostsAsync(LocalOptions.ResolveRunDir(parse.GetValue(runDir)), cancel).ConfigureAwait(false);
            }

            return failed ? ExitCodes.Errors : ExitCodes.Ok;
        });
        return command;
    }

    private static async Task RefreshLocalHostsAsync(string runDir, CancellationToken cancel)
    {
        try
        {
            await LocalRuntime.RefreshHostsAsync(runDir, cancel).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HttpRequestException)
        {
            Console.Error.WriteLine($"skein: config applied, but the local mesh's hosts files were not refreshed: {ex.Message}");
        }
    }

    private static List<string>? ExpandPaths(string[] paths, bool recursive)
    {
        var result = new List<string>();
        foreach (var path in paths)
        {
            if (File.Exists(path))
            {
                result.Add(path);
            }
            else if (Directory.Exists(path))
            {
                result.AddRange(Directory.EnumerateFiles(path, "*", recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly)
                    .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                    .Order(StringComparer.Ordinal));
            }
            else
            {
                Console.Error.WriteLine($"skein: no such file or directory: {path}");
                return null;
            }
        }

        return result;
    }

    private static void Print(IReadOnlyList<Diagnostic> diagnostics, OutputFormat format) =>
        DiagnosticPrinter.Print(new Skein.Api.Analysis.AnalysisReport(0, diagnostics), format, Console.Out);

    private static void PrintServerDiagnostics(IAnsiConsole console, JsonElement root, string property)
    {
        if (!root.TryGetProperty(property, out var list))
        {
            return;
        }

        foreach (var d in list.EnumerateArray())
        {
            var severity = d.GetProperty("severity").GetString();
            var colour = severity == "error" ? "red" : "yellow";
            console.MarkupLine($"[{colour}]{severity}[/] [grey]{d.GetProperty("code").GetString()}[/] {Markup.Escape(d.GetProperty("text").GetString() ?? "")}");
        }
    }
}
