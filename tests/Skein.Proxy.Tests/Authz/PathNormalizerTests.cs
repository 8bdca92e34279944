using Skein.Proxy.Protocol;

namespace Skein.Proxy.Tests.Authz;

/// <summary>Envoy's path normalisation (REJECT escaped slashes, RFC 3986 normalize_path, merge_slashes).</summary>
public sealed class PathNormalizerTests
{
    [Theory]
    [InlineData("/", "/")]
    [InlineData("/admin", "/admin")]
    [InlineData("/admin/../admin", "/admin")]
    [InlineData("/%61dmin", "/admin")]
    [InlineData("/%41DMIN", "/ADMIN")]
    [InlineData("//admin", "/admin")]
    [InlineData("/public/%2E%2E/admin", "/admin")]
    [InlineData("/public/%2e./admin", "/admin")]
    [InlineData("/./admin", "/admin")]
    [InlineData("/admin/", "/admin/")]
    [InlineData("/a/b/../../admin", "/admin")]
    [InlineData("/../../admin", "/admin")]
    [InlineData("/admin/.", "/admin/")]
    [InlineData("/admin/..", "/")]
    [InlineData("/admin;x", "/admin;x")]
    [InlineData("/a\\b", "/a/b")]
    [InlineData("/x//..//admin", "/x/admin")]
    [InlineData("/p%20q", "/p%20q")]
    [InlineData("/p%3aq", "/p%3Aq")]
    [InlineData("/p%7eq", "/p~q")]
    [InlineData("/100%", "/100%")]
    [InlineData("/a/./b/../c?x=/../y&z=%2F", "/a/c?x=/../y&z=%2F")]
    [InlineData("/..?q", "/?q")]
    [InlineData("*", "*")]
    public void TryNormalize_Accepted_AsEnvoy(string raw, string expected)
    {
        Assert.True(PathNormalizer.TryNormalize(raw, out var normalized));
        Assert.Equal(expected, normalized);
    }

    [Theory]
    [InlineData("/%2Fadmin")]
    [InlineData("/%2fadmin")]
    [InlineData("/admin%2F")]
    [InlineData("/%5Cadmin")]
    [InlineData("/%5cadmin")]
    [InlineData("/public/..%2Fadmin")]
    [InlineData("/admin#fragment")]
    public void TryNormalize_EscapedSlashOrFragment_Rejected(string raw)
    {
        Assert.False(PathNormalizer.TryNormalize(raw, out _));
    }
}
