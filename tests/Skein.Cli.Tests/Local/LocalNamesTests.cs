using Skein.Cli.Local;

namespace Skein.Cli.Tests.Local;

public sealed class LocalNamesTests
{
    [Fact]
    public void PodName_DefaultNamespace_WorkloadAndReplica()
    {
        Assert.Equal("frontend-0", LocalNames.PodName("frontend", "default", 0));
    }

    [Fact]
    public void PodName_OtherNamespace_NamespaceAfterDot()
    {
        Assert.Equal("frontend.prod-2", LocalNames.PodName("frontend", "prod", 2));
    }

    [Fact]
    public void NetnsName_ShortPod_PrefixedWithSkein()
    {
        Assert.Equal("skein-reviews-v1-0", LocalNames.NetnsName("reviews-v1-0"));
    }

    [Fact]
    public void NetnsName_LongPod_ShortenedWithinLimitAndDistinct()
    {
        var a = LocalNames.NetnsName(new string('a', 80) + "-0");
        var b = LocalNames.NetnsName(new string('a', 80) + "-1");

        Assert.True(a.Length <= LocalNames.MaxNetnsName);
        Assert.StartsWith(LocalNames.NetnsPrefix, a, StringComparison.Ordinal);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void VethName_AnyPod_SkvAndSixHexWithinInterfaceLimit()
    {
        var name = LocalNames.VethName("a-very-long-workload-name-that-goes-on.some-namespace-12");

        Assert.Matches("^skv[0-9a-f]{6}$", name);
        Assert.True(name.Length <= LocalNames.MaxInterfaceName);
    }

    [Fact]
    public void VethName_Salted_Differs()
    {
        Assert.NotEqual(LocalNames.VethName("frontend-0"), LocalNames.VethName("frontend-0", 1));
        Assert.Equal(LocalNames.VethName("frontend-0"), LocalNames.VethName("frontend-0"));
    }

    [Theory]
    [InlineData("skein0", true)]
    [InlineData("skv0a1b2c", true)]
    [InlineData("skv0a1b2", false)]
    [InlineData("skvzzzzzz", false)]
    [InlineData("eth0", false)]
    [InlineData("skein1", false)]
    [InlineData("docker0", false)]
    public void IsSkeinLink_Names_OnlyOwnNames(string name, bool expected)
    {
        Assert.Equal(expected, LocalNames.IsSkeinLink(name));
    }

    [Theory]
    [InlineData("skein-frontend-0", true)]
    [InlineData("skein-", false)]
    [InlineData("cni-1234", false)]
    public void IsSkeinNetns_Names_OnlyOwnNames(string name, bool expected)
    {
        Assert.Equal(expected, LocalNames.IsSkeinNetns(name));
    }

    [Fact]
    public void NodeId_Pod_IstioShape()
    {
        Assert.Equal("sidecar~198.18.1.1~frontend-0.default~default.svc.cluster.local", LocalNames.NodeId("198.18.1.1", "frontend-0", "default"));
    }
}
