using Skein.Api.Loading;

namespace Skein.Api.Tests.Loading;

/// <summary>
/// Property test: whatever bytes arrive, the loader answers with diagnostics, never an exception.
/// Inputs are the valid corpus truncated, mutated and spliced, plus YAML-shaped noise; the seed is
/// fixed so a failure reproduces.
/// </summary>
public sealed class FuzzTests
{
    private const int Inputs = 10_000;

    private static readonly string[] Tokens =
    [
        "\n", "  ", ":", "- ", "{", "}", "[", "]", ",", "'", "\"", "&a ", "*a", "!!str ", "!!int ", "? ", "|", ">", "#", "---\n", "...\n",
        "apiVersion: networking.istio.io/v1\n", "kind: VirtualService\n", "metadata:\n  name: x\n", "spec:\n", "weight: ", "150",
        "-1", "1e400", "0x1F", "~", "null", "true", "1.5s", "http:", "route:", "\t", "\\", "%", "@", "`", "<<: *a", "\u00e9", "\uFEFF",
    ];

    [Fact]
    public void LoadText_TenThousandRandomAndTruncatedInputs_NeverThrows()
    {
        var random = new Random(20261124);
        var corpus = Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "corpus"), "*", SearchOption.AllDirectories)
            .Select(File.ReadAllText)
            .ToArray();
        Assert.NotEmpty(corpus);

        var withErrors = 0;
        for (var i = 0; i < Inputs; i++)
        {
            var input = Generate(random, corpus, i);
            LoadResult result;
            try
            {
                result = ConfigLoader.LoadText(input, "fuzz.yaml");
            }
            catch (Exception ex)
            {
                Assert.Fail($"input #{i} threw {ex.GetType().Name}: {ex.Message}\n--- input ---\n{input}");
                return;
            }

            Assert.All(result.Diagnostics, d => Assert.True(d.Location is { Line: >= 1, Column: >= 1 }, d.ToString()));
            withErrors += result.HasErrors ? 1 : 0;
        }

        // The generator must mostly produce broken input, or the test proves little.
        Assert.True(withErrors > Inputs / 2, $"only {withErrors} of {Inputs} inputs had errors");
    }

    [Fact]
    public void LoadText_DeepNestingAndAliasBomb_ReportsTooComplex()
    {
        var deep = new string('[', 5000) + new string(']', 5000);
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
                   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";

        Assert.Contains(ConfigLoader.LoadText(deep, "deep.yaml").Diagnostics, d => d.Code == "SK0012");
        Assert.Contains(ConfigLoader.LoadText(bomb, "bomb.yaml").Diagnostics, d => d.Code == "SK0012");
    }

    private static string Generate(Random random, string[] corpus, int i)
    {
        var source = corpus[random.Next(corpus.Length)];
        switch (i % 5)
        {
            case 0: // truncated at any point
                return source[..random.Next(source.Length + 1)];
            case 1: // characters flipped
                var chars = source.ToCharArray();
                for (var n = random.Next(1, 8); n > 0 && chars.Length > 0; n--)
                {
                    chars[random.Next(chars.Length)] = (char)random.Next(9, 127);
                }

                return new string(chars);
            case 2: // tokens spliced in
                var text = source;
                for (var n = random.Next(1, 6); n > 0; n--)
                {
                    text = text.Insert(random.Next(text.Length + 1), Tokens[random.Next(Tokens.Length)]);
                }

                return text;
            case 3: // lines shuffled and re-indented
                var lines = source.Split('\n');
                for (var n = random.Next(1, 4); n > 0 && lines.Length > 1; n--)
                {
                    var a = random.Next(lines.Length);
                    var b = random.Next(lines.Length);
                    (lines[a], lines[b]) = (new string(' ', random.Next(6)) + lines[b].TrimStart(), lines[a]);
                }

                return string.Join('\n', lines);
            default: // pure noise from YAML tokens
                var parts = new string[random.Next(1, 60)];
                for (var n = 0; n < parts.Length; n++)
                {
                    parts[n] = Tokens[random.Next(Tokens.Length)];
                }

                return string.Concat(parts);
        }
    }
}
