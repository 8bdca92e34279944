using Skein.ControlPlane.Xds;

namespace Skein.ControlPlane.Tests;

public sealed class ControlPlaneOptionsTests
{
    [Fact]
    public void Parse_AllOptions_Read()
    {
        var o = ControlPlaneOptions.Parse(
        [
            "--config-dir", "/etc/skein", "--xds-port", "0", "--http-port=16014", "--data-dir", "/var/lib/skein",
            "--push-debounce", "250ms", "--push-debounce-max", "5s", "--mtls", "--trust-domain", "example.org",
        ]);

        Assert.Equal("/etc/skein", o.ConfigDir);
        Assert.Equal(0, o.XdsPort);
        Assert.Equal(16014, o.HttpPort);
        Assert.Equal("/var/lib/skein", o.DataDir);
        Assert.Equal(TimeSpan.FromMilliseconds(250), o.PushDebounce);
        Assert.Equal(TimeSpan.FromSeconds(5), o.PushDebounceMax);
        Assert.True(o.Mtls);
        Assert.Equal("example.org", o.TrustDomain);
    }

    [Fact]
    public void Parse_Defaults_IstioPortsAndMtlsOn()
    {
        var o = ControlPlaneOptions.Parse([]);

        Assert.Equal((15010, 15014), (o.XdsPort, o.HttpPort));
        Assert.Equal(TimeSpan.FromMilliseconds(100), o.PushDebounce);
        Assert.Equal(TimeSpan.FromSeconds(10), o.PushDebounceMax);
        Assert.True(o.Mtls); // Istio's default: auto mTLS, PERMISSIVE
        Assert.Equal(15012, o.SecureXdsPort);
        Assert.Equal(TimeSpan.FromHours(24), o.WorkloadCertTtl);
    }

    [Theory]
    [InlineData("--xds-port", "70000", "--xds-port: \"70000\" is not a port (0-65535)")]
    [InlineData("--push-debounce", "100", "--push-debounce: \"100\" is not a duration such as 100ms or 10s")]
    [InlineData("--nope", "1", "unknown option --nope")]
    public void Parse_BadValue_ThrowsNamingTheOption(string name, string value, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => ControlPlaneOptions.Parse([name, value]));

        Assert.Equal(message, e.Message);
    }
}

/// <summary>Timing tests run alone so a busy machine does not make them flaky.</summary>
[CollectionDefinition(nameof(TimingCollection), DisableParallelization = true)]
public sealed class TimingCollection;

[Collection(nameof(TimingCollection))]
public sealed class PushDebouncerTests
{
    [Fact]
    public async Task Notify_BurstOfChanges_FiresOnceAfterQuiet()
    {
        var fired = new List<DateTime>();
        using var debouncer = new PushDebouncer(TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(10), TimeProvider.System, () => fired.Add(DateTime.UtcNow));

        DateTime last = default;
        for (var i = 0; i < 5; i++)
        {
            debouncer.Notify();
            last = DateTime.UtcNow;
            await Task.Delay(20);
        }

        await Task.Delay(600);

        var at = Assert.Single(fired);
        Assert.True(at - last >= TimeSpan.FromMilliseconds(140), $"fired {(at - last).TotalMilliseconds} ms after the last change");
    }

    [Fact]
    public async Task Notify_NeverQuiet_FiresAtTheMaximumDelay()
    {
        var fired = 0;
        using var debouncer = new PushDebouncer(TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(300), TimeProvider.System, () => Interlocked.Increment(ref fired));

        // Changes never pause for the quiet time, yet pushes go out.
        var until = DateTime.UtcNow.AddMilliseconds(1500);
        while (DateTime.UtcNow < until)
        {
            debouncer.Notify();
            await Task.Delay(30);
        }

        Assert.InRange(Volatile.Read(ref fired), 2, 6);
    }
}
