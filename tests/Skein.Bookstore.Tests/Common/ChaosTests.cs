using Microsoft.AspNetCore.Http;
using Skein.Bookstore.Common;

namespace Skein.Bookstore.Tests.Common;

public sealed class ChaosTests
{
    [Theory]
    [InlineData(0.29, 500)]
    [InlineData(0.30, null)]
    [InlineData(0.99, null)]
    public void Decide_FailPercent30_FailsBelowThreshold(double draw, int? expected)
    {
        var chaos = new Chaos(new ChaosOptions { FailPercent = 30, FailStatus = 500 }, () => draw);

        Assert.Equal(expected, chaos.Decide(new HeaderDictionary()).FailStatus);
    }

    [Fact]
    public void Decide_FailPercent100_AlwaysFails()
    {
        var chaos = new Chaos(new ChaosOptions { FailPercent = 100 }, () => 0.999999);

        Assert.Equal(503, chaos.Decide(new HeaderDictionary()).FailStatus);
    }

    [Fact]
    public void Decide_Spread30Percent_ExactCountAndNeverTwoInARow()
    {
        var chaos = new Chaos(new ChaosOptions { FailPercent = 30, Spread = true }, () => throw new InvalidOperationException("spread needs no dice"));

        var failed = Enumerable.Range(0, 1000).Select(_ => chaos.Decide(new HeaderDictionary()).FailStatus is not null).ToArray();

        Assert.Equal(300, failed.Count(f => f));
        Assert.DoesNotContain(Enumerable.Range(1, 999), i => failed[i] && failed[i - 1]);
    }

    [Fact]
    public void Decide_NoChaos_None()
    {
        var chaos = new Chaos(new ChaosOptions(), () => 0);

        Assert.Equal(ChaosDecision.None, chaos.Decide(new HeaderDictionary()));
    }

    [Fact]
    public void Decide_FailHeader_OverridesPercent()
    {
        var chaos = new Chaos(new ChaosOptions(), () => 0.5);

        Assert.Equal(429, chaos.Decide(new HeaderDictionary { ["x-bookstore-fail"] = "429" }).FailStatus);
    }

    [Fact]
    public void Decide_FailHeaderZero_NeverFails()
    {
        var chaos = new Chaos(new ChaosOptions { FailPercent = 100 }, () => 0);

        Assert.Null(chaos.Decide(new HeaderDictionary { ["x-bookstore-fail"] = "0" }).FailStatus);
    }

    [Fact]
    public void Decide_DelayHeader_OverridesConfiguredDelay()
    {
        var chaos = new Chaos(new ChaosOptions { Delay = TimeSpan.FromSeconds(1) }, () => 0);

        Assert.Equal(TimeSpan.FromMilliseconds(100), chaos.Decide(new HeaderDictionary { ["x-bookstore-delay-ms"] = "100" }).Delay);
        Assert.Equal(TimeSpan.FromSeconds(1), chaos.Decide(new HeaderDictionary()).Delay);
    }

    [Theory]
    [InlineData("x-bookstore-fail", "abc")]
    [InlineData("x-bookstore-fail", "99")]
    [InlineData("x-bookstore-fail", "600")]
    [InlineData("x-bookstore-delay-ms", "-1")]
    [InlineData("x-bookstore-delay-ms", "soon")]
    public void Decide_InvalidHeader_BadRequestWithReason(string name, string value)
    {
        var chaos = new Chaos(new ChaosOptions(), () => 0);

        var decision = chaos.Decide(new HeaderDictionary { [name] = value });

        Assert.Equal(400, decision.FailStatus);
        Assert.Contains(name, decision.Error);
    }
}
