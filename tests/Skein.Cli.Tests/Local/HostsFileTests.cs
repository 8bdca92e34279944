using Skein.Cli.Local;

namespace Skein.Cli.Tests.Local;

public sealed class HostsFileTests
{
    [Fact]
    public void Render_Services_EveryKubernetesNameToVip()
    {
        var text = HostsFile.Render("skein-frontend-0", "default", "198.18.1.1",
        [
            new ServiceVip("reviews.default.svc.cluster.local", "198.19.0.3"),
            new ServiceVip("catalog.default.svc.cluster.local", "198.19.0.2"),
        ]);

        Assert.Equal("""
            # Written by `skein up` for pod skein-frontend-0; removed by `skein down`.
            127.0.0.1	localhost
            ::1	localhost ip6-localhost ip6-loopback
            198.18.1.1	skein-frontend-0
            198.19.0.2	catalog catalog.default catalog.default.svc catalog.default.svc.cluster.local
            198.19.0.3	reviews reviews.default reviews.default.svc reviews.default.svc.cluster.local

            """.ReplaceLineEndings("\n"), text);
    }

    [Fact]
    public void Render_ServiceInOtherNamespace_NoShortName()
    {
        var text = HostsFile.Render("p", "default", null, [new ServiceVip("ratings.prod.svc.cluster.local", "198.19.0.9")]);

        Assert.Contains("198.19.0.9\tratings.prod ratings.prod.svc ratings.prod.svc.cluster.local\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_ServiceEntryHost_WrittenAsIs()
    {
        var text = HostsFile.Render("p", "default", null, [new ServiceVip("api.example.com", "198.19.1.1")]);

        Assert.Contains("198.19.1.1\tapi.example.com\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10.0.0.1")]
    [InlineData("198.18.1.1")]
    [InlineData("8.8.8.8")]
    [InlineData("nonsense")]
    public void Render_VipOutsideServiceRange_Left(string vip)
    {
        var text = HostsFile.Render("p", "default", null, [new ServiceVip("evil.default.svc.cluster.local", vip)]);

        Assert.DoesNotContain("evil", text, StringComparison.Ordinal);
    }
}
