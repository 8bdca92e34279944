using Skein.Api.Loading;
using Skein.Api.Model;
using Skein.Api.Validation;

namespace Skein.Api.Analysis;

/// <summary>
/// `skein analyze`: the loader's schema findings plus checks across resources (a subset no
/// DestinationRule defines, a host no service has, two VirtualServices for one host, ...).
/// Every check runs and reports; nothing stops at the first problem.
/// </summary>
public static class ConfigAnalyzer
{
    public static AnalysisReport Analyze(LoadResult loaded)
    {
        var findings = new Findings();
        var index = new MeshIndex(loaded.Resources);
        DuplicateCheck.Run(index, findings);
        RoutingChecks.Run(index, findings);
        SecurityChecks.Run(index, findings);
        SupportCheck.Run(index, findings);

        var all = loaded.Diagnostics.Concat(findings.Items)
            .OrderBy(d => d.Location?.File, StringComparer.Ordinal)
            .ThenBy(d => d.Location?.Line)
            .ThenBy(d => d.Location?.Column)
            .ToList();
        return new AnalysisReport(loaded.Resources.Count, all);
    }
}

/// <summary>Collects cross-resource findings, pointing at the field of the resource they concern.</summary>
internal sealed class Findings
{
    public List<Diagnostic> Items { get; } = [];

    public void Error(string code, Resource resource, string path, string message) => Add(Severity.Error, code, resource, path, message);

    public void Warning(string code, Resource resource, string path, string message) => Add(Severity.Warning, code, resource, path, message);

    private void Add(Severity severity, string code, Resource resource, string path, string message) =>
        Items.Add(new Diagnostic(severity, code, resource.SourceMap?.Locate(path) ?? resource.Source, path, message) { Resource = resource.DisplayName });
}

internal static class DuplicateCheck
{
    public static void Run(MeshIndex index, Findings findings)
    {
        var seen = new Dictionary<(string Kind, string Ns, string Name), Resource>();
        foreach (var resource in index.Resources)
        {
            var key = (resource.Kind, resource.Namespace, resource.Name);
            if (!seen.TryAdd(key, resource))
            {
                findings.Error(DiagnosticCodes.DuplicateResource, resource, "metadata.name",
                    $"{resource.DisplayName} is defined twice (first at {seen[key].Source})");
            }
        }
    }
}
