namespace Skein.ControlPlane.Tests.Telemetry;

public sealed class TelemetryOptionsTests
{
    [Fact]
    public void Parse_Defaults_DashboardOtlpAndScraping()
    {
        var o = ControlPlaneOptions.Parse([]);

        Assert.Equal((20001, 4318, TimeSpan.FromSeconds(5)), (o.DashboardPort, o.OtlpPort, o.ScrapeInterval));
        Assert.Equal("127.0.0.1", o.DashboardAddress);
        Assert.Null(o.OtlpAddress); // the ADS address
    }

    [Fact]
    public void Parse_EphemeralHttpPort_NoFixedTelemetryPortsAndNoScraping()
    {
        var quiet = ControlPlaneOptions.Parse(["--http-port", "0"]);
        var asked = ControlPlaneOptions.Parse(["--http-port", "0", "--dashboard-port=20002", "--scrape-interval", "2s"]);

        Assert.Equal((0, 0, (TimeSpan?)null), (quiet.DashboardPort, quiet.OtlpPort, quiet.ScrapeInterval));
        Assert.Equal((20002, 0, TimeSpan.FromSeconds(2)), (asked.DashboardPort, asked.OtlpPort, asked.ScrapeInterval));
    }

    [Fact]
    public void Parse_TelemetryOptions_Read()
    {
        var o = ControlPlaneOptions.Parse(["--dashboard-port", "off", "--otlp-port", "14318", "--otlp-address", "0.0.0.0", "--scrape-interval", "off", "--prometheus-url", "http://127.0.0.1:9090", "--max-traces", "50"]);

        Assert.Null(o.DashboardPort);
        Assert.Equal((14318, "0.0.0.0"), (o.OtlpPort, o.OtlpAddress));
        Assert.Null(o.ScrapeInterval);
        Assert.Equal(new Uri("http://127.0.0.1:9090"), o.PrometheusUrl);
        Assert.Equal(50, o.MaxTraces);
    }

    [Theory]
    [InlineData("--prometheus-url", "ftp://x", "--prometheus-url: \"ftp://x\" is not an http(s) URL")]
    [InlineData("--scrape-interval", "500ms", "--scrape-interval: must be at least 1s")]
    [InlineData("--max-traces", "0", "--max-traces: \"0\" is not a number from 1 to 1000000")]
    public void Parse_BadTelemetryValue_ThrowsNamingTheOption(string name, string value, string message)
    {
        Assert.Equal(message, Assert.Throws<ArgumentException>(() => ControlPlaneOptions.Parse([name, value])).Message);
    }
}
