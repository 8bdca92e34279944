using System.CommandLine;
using System.Text.Json;
using Skein.Cli.Output;
using Spectre.Console;

namespace Skein.Cli.Commands;

/// <summary>
/// `skein check`: is the mesh's security healthy? The CA and its roots, every proxy's certificate, the trust
/// bundle each proxy holds, the clock skew to skein-control and what `skein analyze` finds in the applied config.
/// Exit 1 on any error, 2 on warnings with --fail-on-warning, 64 when skein-control cannot be reached.
/// </summary>
internal static class CheckCommand
{
    public static Command Create()
    {
        var output = CommonOptions.Output();
        var controlPlane = ControlPlaneConnection.Option();
        var failOnWarning = new Option<bool>("--fail-on-warning") { Description = "Exit 2 when there are warnings but no errors." };
        var command = new Command("check", "Check the mesh's CA and root validity, proxy certificates, trust bundles, clock skew and applied config.")
        {
            output, controlPlane, failOnWarning,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var url = ControlPlaneConnection.Resolve(parse.GetValue(controlPlane));
            using var http = ControlPlaneConnection.Client(url);
            try
            {
                using var probe = await http.GetAsync("/api/v1/config/status", cancel).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                Console.Error.WriteLine($"skein check: cannot reach the control plane at {url}: {e.Message}");
                return ExitCodes.Usage;
            }

            var results = await new MeshChecks(http, TimeProvider.System).RunAsync(cancel).ConfigureAwait(false);
            Print(results, parse.GetValue(output));
            var errors = results.Count(r => r.Status == CheckStatus.Error);
            var warnings = results.Count(r => r.Status == CheckStatus.Warning);
            return errors > 0 ? ExitCodes.Errors
                : warnings > 0 && parse.GetValue(failOnWarning) ? ExitCodes.Warnings
                : ExitCodes.Ok;
        });
        return command;
    }

    private static void Print(IReadOnlyList<CheckResult> results, OutputFormat format)
    {
        var errors = results.Count(r => r.Status == CheckStatus.Error);
        var warnings = results.Count(r => r.Status == CheckStatus.Warning);
        if (format != OutputFormat.Text)
        {
            var doc = new
            {
                ok = errors == 0,
                errors,
                warnings,
                checks = results.Select(r => new { check = r.Check, subject = r.Subject, status = r.Status.ToString().ToLowerInvariant(), message = r.Message }),
            };
            Console.Out.WriteLine(JsonSerializer.Serialize(doc, ControlPlaneConnection.Indented));
            return;
        }

        var table = new Table().AddColumns("CHECK", "SUBJECT", "STATUS", "DETAIL");
        foreach (var r in results)
        {
            table.AddRow(
                Markup.Escape(r.Check),
                Markup.Escape(r.Subject),
                r.Status switch { CheckStatus.Ok => "[green]ok[/]", CheckStatus.Warning => "[yellow]warning[/]", _ => "[red]error[/]" },
                Markup.Escape(r.Message));
        }

        var terminal = Terminal.Create(Console.Out);
        terminal.Write(table);
        terminal.MarkupLine(errors > 0 ? $"[red]{errors} error(s)[/], {warnings} warning(s)" : warnings > 0 ? $"[yellow]{warnings} warning(s)[/], no errors" : "[green]all checks passed[/]");
    }
}
