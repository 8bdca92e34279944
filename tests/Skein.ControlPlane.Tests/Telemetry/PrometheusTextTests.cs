using Skein.ControlPlane.Telemetry;

namespace Skein.ControlPlane.Tests.Telemetry;

public sealed class PrometheusTextTests
{
    internal static string Recorded(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Skein.sln")))
        {
            dir = dir.Parent;
        }

        return File.ReadAllText(Path.Combine(dir!.FullName, "tests", "Skein.ControlPlane.Tests", "Telemetry", "testdata", name));
    }

    [Fact]
    public void Parse_RecordedSidecarStats_ReadsIstioSamplesOnly()
    {
        var seen = new List<(string Name, double Value)>();

        var malformed = PrometheusText.Parse(Recorded("reviews-v2-sidecar.txt"), "istio_", (in PrometheusLine line) => seen.Add((line.Name.ToString(), line.Value)));

        Assert.Equal(0, malformed);
        Assert.Equal(14, seen.Count);
        Assert.DoesNotContain(seen, s => s.Name.StartsWith("envoy_", StringComparison.Ordinal));
        Assert.Equal(4096, seen.Single(s => s.Name == "istio_tcp_sent_bytes_total").Value); // the timestamp after the value is ignored
        Assert.Equal(2001.5, seen.Single(s => s.Name == "istio_request_duration_milliseconds_sum").Value);
    }

    [Fact]
    public void Parse_QuotedBracesAndEscapes_SeriesEndsAtTheRealBrace()
    {
        const string text = "istio_requests_total{path=\"/a}b\",note=\"say \\\"hi\\\"\\n\",x=\"\\\\\"} 7\n";
        string? series = null;
        string? labels = null;
        double value = 0;

        PrometheusText.Parse(text, "istio_", (in PrometheusLine line) =>
        {
            series = line.Series.ToString();
            labels = line.Labels.ToString();
            value = line.Value;
        });
        var pairs = new List<KeyValuePair<string, string>>();
        Assert.True(PrometheusText.TryParseLabels(labels, pairs));

        Assert.Equal(7, value);
        Assert.EndsWith("x=\"\\\\\"}", series, StringComparison.Ordinal);
        Assert.Equal("/a}b", pairs[0].Value);
        Assert.Equal("say \"hi\"\n", pairs[1].Value);
        Assert.Equal("\\", pairs[2].Value);
    }

    [Theory]
    [InlineData("istio_x 1", 1)]
    [InlineData("istio_x{} +Inf", double.PositiveInfinity)]
    [InlineData("istio_x{a=\"b\"}  -Inf", double.NegativeInfinity)]
    [InlineData("istio_x 1.5e3 1700000000000", 1500)]
    [InlineData("  istio_x 2\r", 2)]
    public void Parse_Values_ReadAsPrometheusWritesThem(string line, double expected)
    {
        var values = new List<double>();

        PrometheusText.Parse(line, "istio_", (in PrometheusLine l) => values.Add(l.Value));

        Assert.Equal([expected], values);
    }

    [Fact]
    public void Parse_MalformedLines_SkippedAndCounted()
    {
        const string text = "istio_a{x=\"unterminated 1\nistio_b notanumber\nistio_c 3\n";
        var names = new List<string>();

        var malformed = PrometheusText.Parse(text, "istio_", (in PrometheusLine l) => names.Add(l.Name.ToString()));

        Assert.Equal(2, malformed);
        Assert.Equal(["istio_c"], names);
    }
}
