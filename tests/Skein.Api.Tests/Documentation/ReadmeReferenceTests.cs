using Skein.Api.Documentation;

namespace Skein.Api.Tests.Documentation;

/// <summary>
/// The README's configuration reference is generated from the model; this fails when they drift.
/// Run with SKEIN_REFRESH_DOCS=1 to rewrite the README section, then review the diff.
/// </summary>
public sealed class ReadmeReferenceTests
{
    private const string Begin = "<!-- BEGIN CONFIG REFERENCE (generated: SKEIN_REFRESH_DOCS=1 dotnet test tests/Skein.Api.Tests) -->\n";
    private const string End = "<!-- END CONFIG REFERENCE -->";

    [Fact]
    public void ConfigReference_Readme_MatchesModel()
    {
        var readme = Path.Combine(RepoRoot(), "README.md");
        var text = File.ReadAllText(readme);
        var start = text.IndexOf(Begin, StringComparison.Ordinal);
        var end = text.IndexOf(End, StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, "README.md lacks the config reference markers");

        var generated = ConfigReference.Generate();
        var current = text[(start + Begin.Length)..end];
        if (current != generated && Environment.GetEnvironmentVariable("SKEIN_REFRESH_DOCS") == "1")
        {
            File.WriteAllText(readme, text[..(start + Begin.Length)] + generated + text[end..]);
            current = generated;
        }

        Assert.Equal(generated, current);
    }

    [Fact]
    public void ConfigReference_Generate_CoversEveryKindAndKeyField()
    {
        var generated = ConfigReference.Generate();

        foreach (var heading in new[] { "### VirtualService", "### DestinationRule", "### ServiceEntry", "### WorkloadEntry", "### AuthorizationPolicy", "### PeerAuthentication", "### Service", "### Workload", "### RateLimit" })
        {
            Assert.Contains(heading, generated, StringComparison.Ordinal);
        }

        Assert.Contains("| `spec.http[].route[].weight` | integer |", generated, StringComparison.Ordinal);
        Assert.Contains("| `spec.trafficPolicy.outlierDetection.consecutive5xxErrors` | integer |", generated, StringComparison.Ordinal);
        Assert.Contains("| `spec.provider` |", generated, StringComparison.Ordinal);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Skein.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Skein.sln not found");
    }
}
