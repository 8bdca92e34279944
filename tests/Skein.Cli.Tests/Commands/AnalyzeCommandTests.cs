using System.Text.Json;

namespace Skein.Cli.Tests.Commands;

public sealed class AnalyzeCommandTests
{
    private const string BadWeight = """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
        spec:
          hosts:
            - reviews
          http:
            - route:
                - destination:
                    host: reviews
                  weight: 150
        """;

    private const string ReviewsService = """
        apiVersion: v1
        kind: Service
        metadata: {name: reviews}
        spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
        ---

        """;

    [Fact]
    public void Analyze_SampleMesh_ExitsZero()
    {
        var (code, stdout, _) = CliRunner.Run("analyze", "-f", "samples/mesh");

        Assert.Equal(0, code);
        Assert.Contains("11 valid resources: 0 error(s)", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("canary")]
    [InlineData("header-routing")]
    [InlineData("fault-delay")]
    [InlineData("fault-abort")]
    [InlineData("retries")]
    [InlineData("circuit-breaker")]
    [InlineData("rate-limit")]
    public void Analyze_SampleMeshWithScenario_ExitsZero(string scenario)
    {
        var (code, stdout, _) = CliRunner.Run("analyze", "-f", "samples/mesh", "-f", $"samples/mesh/{scenario}", "-o", "json");

        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(stdout);
        Assert.DoesNotContain(json.RootElement.GetProperty("diagnostics").EnumerateArray(), d => d.GetProperty("severity").GetString() == "error");
    }

    [Fact]
    public void Analyze_WeightOutOfRange_ExitsOneWithFileLineColumn()
    {
        var file = CliRunner.TempFile(BadWeight);

        var (code, stdout, _) = CliRunner.Run("analyze", "-f", file);

        Assert.Equal(1, code);
        Assert.Contains($"{file}:12:19 spec.http[0].route[0].weight: must be between 0 and 100", stdout, StringComparison.Ordinal);
        Assert.Contains("SK0005", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Analyze_JsonOutput_CarriesCodeLinePathAndMessage()
    {
        var file = CliRunner.TempFile(BadWeight);

        var (code, stdout, _) = CliRunner.Run("analyze", "-f", file, "-o", "json");

        Assert.Equal(1, code);
        using var json = JsonDocument.Parse(stdout);
        var finding = json.RootElement.GetProperty("diagnostics").EnumerateArray()
            .Single(d => d.GetProperty("code").GetString() == "SK0005");
        Assert.Equal(12, finding.GetProperty("line").GetInt32());
        Assert.Equal(19, finding.GetProperty("column").GetInt32());
        Assert.Equal("spec.http[0].route[0].weight", finding.GetProperty("path").GetString());
        Assert.Equal("error", finding.GetProperty("severity").GetString());
    }

    [Fact]
    public void Analyze_YamlOutput_IsYaml()
    {
        var file = CliRunner.TempFile(BadWeight);

        var (code, stdout, _) = CliRunner.Run("analyze", "-f", file, "-o", "yaml");

        Assert.Equal(1, code);
        Assert.Contains("code: SK0005", stdout, StringComparison.Ordinal);
        Assert.Contains("line: 12", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Analyze_WarningsOnlyWithFailOnWarning_ExitsTwo()
    {
        var file = CliRunner.TempFile(ReviewsService + BadWeight.Replace("weight: 150", "weight: 100", StringComparison.Ordinal) + """

                    - destination:
                        host: reviews
                      weight: 20
            """);

        var plain = CliRunner.Run("analyze", "-f", file);
        var strict = CliRunner.Run("analyze", "-f", file, "--fail-on-warning");

        Assert.Equal(0, plain.ExitCode);
        Assert.Equal(2, strict.ExitCode);
        Assert.Contains("weights sum to 120, not 100", strict.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Analyze_MissingPath_ExitsUsageWithMessage()
    {
        var (code, _, stderr) = CliRunner.Run("analyze", "-f", "/nonexistent/skein.yaml");

        Assert.Equal(64, code);
        Assert.Contains("no such file or directory: /nonexistent/skein.yaml", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("analyze")]
    [InlineData("version")]
    public void Help_EveryVerb_PrintsUsage(string verb)
    {
        var (code, stdout, _) = CliRunner.Run(verb, "--help");

        Assert.Equal(0, code);
        Assert.Contains("Usage:", stdout, StringComparison.Ordinal);
    }
}
