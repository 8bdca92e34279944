using System.Text.Json;
using System.Text.Json.Serialization;
using Skein.Api.Analysis;
using Skein.Api.Validation;
using Skein.Cli.Commands;
using Spectre.Console;

namespace Skein.Cli.Output;

/// <summary>Prints an analysis report as coloured text, JSON or YAML.</summary>
internal static class DiagnosticPrinter
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static void Print(AnalysisReport report, OutputFormat format, TextWriter writer)
    {
        var rows = report.Diagnostics.Select(d => new DiagnosticRow(
            d.Severity.ToString().ToLowerInvariant(), d.Code, d.Location?.File, d.Location?.Line, d.Location?.Column, d.Path, d.Message, d.Resource)).ToList();
        switch (format)
        {
            case OutputFormat.Json:
                writer.WriteLine(JsonSerializer.Serialize(new { resources = report.ResourceCount, diagnostics = rows }, Json));
                return;
            case OutputFormat.Yaml:
                writer.Write(new YamlDotNet.Serialization.SerializerBuilder()
                    .WithNamingConvention(YamlDotNet.Serialization.NamingConventions.CamelCaseNamingConvention.Instance)
                    .ConfigureDefaultValuesHandling(YamlDotNet.Serialization.DefaultValuesHandling.OmitNull)
                    .Build().Serialize(new { resources = report.ResourceCount, diagnostics = rows }));
                return;
        }

        var console = Terminal.Create(writer);
        foreach (var d in report.Diagnostics)
        {
            var colour = d.Severity switch { Severity.Error => "red", Severity.Warning => "yellow", _ => "blue" };
            console.MarkupLine($"[{colour}]{d.Severity.ToString().ToLowerInvariant()}[/] [grey]{d.Code}[/] {Markup.Escape(d.ToString())}");
        }

        var errors = report.Diagnostics.Count(d => d.Severity == Severity.Error);
        var warnings = report.Diagnostics.Count(d => d.Severity == Severity.Warning);
        var summary = $"{report.ResourceCount} valid resources: {errors} error(s), {warnings} warning(s)";
        console.MarkupLine(errors > 0 ? $"[red]{summary}[/]" : warnings > 0 ? $"[yellow]{summary}[/]" : $"[green]✔ {summary}[/]");
    }

    private sealed record DiagnosticRow(string Severity, string Code, string? File, int? Line, int? Column, string Path, string Message, string? Resource);
}
