using Skein.Api.Validation;

namespace Skein.Api.Analysis;

/// <summary>Everything `skein analyze` found: schema problems first, then cross-resource ones.</summary>
public sealed record AnalysisReport(int ResourceCount, IReadOnlyList<Diagnostic> Diagnostics)
{
    public bool HasErrors => Diagnostics.Any(d => d.Severity == Severity.Error);
}
