using Skein.Api.Model;
using Skein.Api.Validation;

namespace Skein.Api.Tests.Validation;

public sealed class FormatsTests
{
    [Theory]
    [InlineData("^/api/v[0-9]+/.*$")]
    [InlineData("(?i)reviews")]
    [InlineData("a{2,3}b*?")]
    public void CheckRegex_Re2Syntax_Accepted(string pattern) => Assert.Null(Formats.CheckRegex(pattern));

    [Theory]
    [InlineData("(a)\\1", "backreferences")]
    [InlineData("foo(?=bar)", "lookaround")]
    [InlineData("(?<!x)y", "lookaround")]
    [InlineData("a*+", "possessive")]
    [InlineData("[a-", "invalid regex")]
    public void CheckRegex_NotRe2_Rejected(string pattern, string reason) =>
        Assert.Contains(reason, Formats.CheckRegex(pattern) ?? "", StringComparison.Ordinal);

    [Theory]
    [InlineData("10.0.0.0/8", true)]
    [InlineData("198.18.0.1", true)]
    [InlineData("2001:db8::/32", true)]
    [InlineData("10.0.0.0/33", false)]
    [InlineData("300.1.1.1", false)]
    [InlineData("10.0.0.0/", false)]
    public void CheckCidr_Values_ValidatedByFamily(string value, bool ok) => Assert.Equal(ok, Formats.CheckCidr(value) is null);

    [Theory]
    [InlineData("reviews", true)]
    [InlineData("reviews.default.svc.cluster.local", true)]
    [InlineData("*.example.com", true)]
    [InlineData("*", true)]
    [InlineData("re*views", false)]
    [InlineData("-bad.example", false)]
    public void CheckHost_Values_Validated(string value, bool ok) => Assert.Equal(ok, Formats.CheckHost(value) is null);

    [Theory]
    [InlineData("1.5s", 1500)]
    [InlineData("100ms", 100)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1m30s", 90_000)]
    [InlineData("0", 0)]
    [InlineData("250us", 0.25)]
    public void DurationTryParse_GoSyntax_Parsed(string text, double milliseconds)
    {
        Assert.True(Duration.TryParse(text, out var duration));
        Assert.Equal(milliseconds, duration.Value.TotalMilliseconds, 3);
        Assert.Equal(text, duration.Text);
    }

    [Theory]
    [InlineData("")]
    [InlineData("10")]
    [InlineData("1.5")]
    [InlineData("5 s")]
    [InlineData("1d")]
    [InlineData("s")]
    public void DurationTryParse_BadSyntax_Rejected(string text) => Assert.False(Duration.TryParse(text, out _));
}
