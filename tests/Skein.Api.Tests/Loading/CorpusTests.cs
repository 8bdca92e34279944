using Skein.Api.Loading;
using Skein.Api.Validation;

namespace Skein.Api.Tests.Loading;

/// <summary>
/// The document corpus: every file under corpus/invalid states the errors it must produce in
/// "# expect: LINE:COL PATH: MESSAGE" comments (all of them, and no others); every file under
/// corpus/valid must load without errors and survive load → write → load unchanged.
/// </summary>
public sealed class CorpusTests
{
    private static readonly string Root = Path.Combine(AppContext.BaseDirectory, "corpus");

    public static TheoryData<string> InvalidFiles() => Files("invalid");

    public static TheoryData<string> ValidFiles() => Files("valid");

    [Theory]
    [MemberData(nameof(InvalidFiles))]
    public void Load_InvalidDocument_ReportsExpectedErrorsAtPositions(string name)
    {
        var path = Path.Combine(Root, "invalid", name);
        var text = File.ReadAllText(path);
        var expected = text.Split('\n')
            .Where(l => l.StartsWith("# expect: ", StringComparison.Ordinal))
            .Select(l => l["# expect: ".Length..].TrimEnd('\r'))
            .ToList();
        Assert.NotEmpty(expected);

        var result = ConfigLoader.LoadText(text, name);

        var actual = result.Diagnostics.Where(d => d.Severity == Severity.Error)
            .Select(d => $"{d.Location!.Line}:{d.Location.Column} {(d.Path.Length > 0 ? d.Path + ": " : "")}{d.Message}")
            .ToList();
        Assert.Equal(expected.Order(StringComparer.Ordinal), actual.Order(StringComparer.Ordinal));
        Assert.All(result.Diagnostics, d => Assert.Equal(name, d.Location!.File));
    }

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void Load_ValidDocument_LoadsAndRoundTrips(string name)
    {
        var text = File.ReadAllText(Path.Combine(Root, "valid", name));

        var first = ConfigLoader.LoadText(text, name);
        Assert.Empty(first.Diagnostics.Where(d => d.Severity == Severity.Error).Select(d => d.ToString()));
        Assert.NotEmpty(first.Resources);

        var written = YamlWriter.Write(first.Resources);
        var second = ConfigLoader.LoadText(written, "roundtrip.yaml");
        Assert.Empty(second.Diagnostics.Where(d => d.Severity == Severity.Error).Select(d => d.ToString()));
        Assert.Equal(written, YamlWriter.Write(second.Resources));
        Assert.Equal(first.Resources.Count, second.Resources.Count);
    }

    [Fact]
    public void Corpus_HasEnoughDocuments_AtLeast60InvalidAnd20Valid()
    {
        Assert.True(InvalidFiles().Count >= 60, $"only {InvalidFiles().Count} invalid documents");
        Assert.True(ValidFiles().Count >= 20, $"only {ValidFiles().Count} valid documents");
    }

    private static TheoryData<string> Files(string folder)
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Root, folder)).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(file));
        }

        return data;
    }
}
