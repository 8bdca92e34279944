using Microsoft.Extensions.Time.Testing;

namespace Skein.Identity.Tests;

public sealed class IdentityTests
{
    [Theory]
    [InlineData("spiffe://cluster.local/ns/default/sa/frontend", "cluster.local/ns/default/sa/frontend")]
    [InlineData("spiffe://example.org/ns/prod-1/sa/reviews_v2", "example.org/ns/prod-1/sa/reviews_v2")]
    public void Parse_IstioForm_RoundTrips(string text, string principal)
    {
        var id = SpiffeId.Parse(text);

        Assert.Equal(text, id.ToString());
        Assert.Equal(principal, id.Principal);
    }

    [Theory]
    [InlineData("http://cluster.local/ns/default/sa/frontend")]
    [InlineData("spiffe://cluster.local/ns/default")]
    [InlineData("spiffe://cluster.local/sa/x/ns/y")]
    [InlineData("spiffe:///ns/default/sa/x")]
    [InlineData("spiffe://cluster.local/ns/default/sa/x/extra")]
    public void TryParse_NotIstioForm_Rejected(string text) => Assert.False(SpiffeId.TryParse(text, out _));

    [Fact]
    public void BootstrapToken_Issued_VerifiesToItsIdentityOnly()
    {
        var tokens = new BootstrapTokens(BootstrapTokens.NewKey());
        var id = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/reviews");

        var token = tokens.Issue(id, TimeSpan.FromHours(1));

        Assert.Equal(id, tokens.Verify(token));
    }

    [Fact]
    public void BootstrapToken_ForgedTamperedOrOtherKey_Rejected()
    {
        var tokens = new BootstrapTokens(BootstrapTokens.NewKey());
        var other = new BootstrapTokens(BootstrapTokens.NewKey());
        var token = tokens.Issue(SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/reviews"), TimeSpan.FromHours(1));
        var forgedBody = other.Issue(SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/admin"), TimeSpan.FromHours(1)).Split('.')[0];

        Assert.Null(other.Verify(token));
        Assert.Null(tokens.Verify(forgedBody + "." + token.Split('.')[1]));
        Assert.Null(tokens.Verify(token[..^2] + "xx"));
        Assert.Null(tokens.Verify("not-a-token"));
        Assert.Null(tokens.Verify(null));
    }

    [Fact]
    public void BootstrapToken_Expired_Rejected()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var tokens = new BootstrapTokens(BootstrapTokens.NewKey(), time);
        var token = tokens.Issue(SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/reviews"), TimeSpan.FromMinutes(5));

        time.Advance(TimeSpan.FromMinutes(6));

        Assert.Null(tokens.Verify(token));
        Assert.DoesNotContain("key", tokens.ToString().Replace("key hidden", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }
}
