using System.CommandLine;
using Skein.Api.Analysis;
using Skein.Api.Loading;
using Skein.Api.Validation;
using Skein.Cli.Output;

namespace Skein.Cli.Commands;

/// <summary>`skein analyze -f PATH...`: schema errors plus cross-resource checks.</summary>
internal static class AnalyzeCommand
{
    public static Command Create()
    {
        var files = CommonOptions.Files("Files or directories of YAML/JSON config to analyze (repeatable).");
        var output = CommonOptions.Output();
        var recursive = CommonOptions.Recursive();
        var failOnWarning = new Option<bool>("--fail-on-warning") { Description = "Exit 2 when there are warnings but no errors." };
        var command = new Command("analyze", "Validate config and report cross-resource problems, with file:line:col and field path.")
        {
            files,
            recursive,
            output,
            failOnWarning,
        };
        command.SetAction(parse =>
        {
            var paths = parse.GetValue(files)!;
            var missing = paths.Where(p => !File.Exists(p) && !Directory.Exists(p)).ToList();
            if (missing.Count > 0)
            {
                Console.Error.WriteLine($"skein analyze: no such file or directory: {string.Join(", ", missing)}");
                return ExitCodes.Usage;
            }

            var loaded = ConfigLoader.LoadPaths(paths, parse.GetValue(recursive));
            var report = ConfigAnalyzer.Analyze(loaded);
            DiagnosticPrinter.Print(report, parse.GetValue(output), Console.Out);
            var errors = report.Diagnostics.Count(d => d.Severity == Severity.Error);
            var warnings = report.Diagnostics.Count(d => d.Severity == Severity.Warning);
            return errors > 0 ? ExitCodes.Errors
                : warnings > 0 && parse.GetValue(failOnWarning) ? ExitCodes.Warnings
                : ExitCodes.Ok;
        });
        return command;
    }
}
