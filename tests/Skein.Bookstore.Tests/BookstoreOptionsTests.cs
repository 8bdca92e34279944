using System.Net;

namespace Skein.Bookstore.Tests;

public sealed class BookstoreOptionsTests
{
    private static readonly Dictionary<string, string> NoEnvironment = [];

    [Fact]
    public void Parse_RoleOnly_Defaults()
    {
        var options = Parse(["--role", "catalog"]);

        Assert.Equal(BookstoreRole.Catalog, options.Role);
        Assert.Equal(9080, options.Port);
        Assert.Equal(IPAddress.Any, options.Listen);
        Assert.Equal("v1", options.Version);
        Assert.False(options.Quiet);
        Assert.Equal(0, options.Chaos.FailPercent);
        Assert.Equal(503, options.Chaos.FailStatus);
        Assert.Equal(TimeSpan.Zero, options.Chaos.Delay);
        Assert.Equal(new Uri("http://catalog:9080"), options.CatalogUrl);
        Assert.Equal(new Uri("http://reviews:9080"), options.ReviewsUrl);
        Assert.Equal(new Uri("http://ratings:9080"), options.RatingsUrl);
        Assert.Equal(TimeSpan.FromSeconds(3), options.UpstreamTimeout);
    }

    [Fact]
    public void Parse_Environment_ReadsEveryVariable()
    {
        var options = Parse([], new()
        {
            ["BOOKSTORE_ROLE"] = "reviews",
            ["PORT"] = "9081",
            ["BOOKSTORE_LISTEN"] = "127.0.0.1",
            ["VERSION"] = "v3",
            ["INSTANCE"] = "reviews-7",
            ["BOOKSTORE_QUIET"] = "1",
            ["FAIL_PERCENT"] = "12.5",
            ["FAIL_STATUS"] = "500",
            ["DELAY_MS"] = "40",
            ["RATINGS_URL"] = "http://127.0.0.1:7000",
            ["UPSTREAM_TIMEOUT_MS"] = "250",
        });

        Assert.Equal(BookstoreRole.Reviews, options.Role);
        Assert.Equal(9081, options.Port);
        Assert.Equal(IPAddress.Loopback, options.Listen);
        Assert.Equal("v3", options.Version);
        Assert.Equal("reviews-v3-reviews-7", options.ServedBy);
        Assert.True(options.Quiet);
        Assert.Equal(12.5, options.Chaos.FailPercent);
        Assert.Equal(500, options.Chaos.FailStatus);
        Assert.Equal(TimeSpan.FromMilliseconds(40), options.Chaos.Delay);
        Assert.Equal(new Uri("http://127.0.0.1:7000"), options.RatingsUrl);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.UpstreamTimeout);
    }

    [Fact]
    public void Parse_FlagAndEnvironment_FlagWins()
    {
        var options = Parse(["--role=frontend", "--port", "0", "--fail-percent", "100"], new() { ["BOOKSTORE_ROLE"] = "catalog", ["PORT"] = "1", ["FAIL_PERCENT"] = "5" });

        Assert.Equal(BookstoreRole.Frontend, options.Role);
        Assert.Equal(0, options.Port);
        Assert.Equal(100, options.Chaos.FailPercent);
    }

    [Fact]
    public void Parse_NoInstance_UsesHostnameVariable()
    {
        Assert.Equal("catalog-v1-pod-abc", Parse(["--role", "catalog"], new() { ["HOSTNAME"] = "pod-abc" }).ServedBy);
        Assert.Equal("catalog-v1-mine", Parse(["--role", "catalog", "--instance", "mine"], new() { ["HOSTNAME"] = "pod-abc" }).ServedBy);
    }

    [Theory]
    [InlineData("--quiet")]
    [InlineData("--quiet=true")]
    public void Parse_Quiet_True(string flag)
    {
        Assert.True(Parse(["--role", "ratings", flag]).Quiet);
    }

    [Theory]
    [InlineData(new string[0], "--role")]
    [InlineData(new[] { "--role", "cart" }, "'cart' is not one of")]
    [InlineData(new[] { "--role", "reviews", "--version", "v4" }, "v1, v2 or v3")]
    [InlineData(new[] { "--role", "catalog", "--port", "70000" }, "--port")]
    [InlineData(new[] { "--role", "catalog", "--fail-percent", "101" }, "--fail-percent")]
    [InlineData(new[] { "--role", "catalog", "--fail-status", "99" }, "--fail-status")]
    [InlineData(new[] { "--role", "catalog", "--listen", "example.com" }, "--listen")]
    [InlineData(new[] { "--role", "catalog", "--reviews-url", "reviews:9080" }, "--reviews-url")]
    [InlineData(new[] { "--role", "catalog", "--bogus" }, "unknown argument '--bogus'")]
    [InlineData(new[] { "--role" }, "--role needs a value")]
    public void Parse_Invalid_ThrowsNamingTheProblem(string[] args, string expected)
    {
        var error = Assert.Throws<BookstoreOptionsException>(() => Parse(args));

        Assert.Contains(expected, error.Message);
    }

    private static BookstoreOptions Parse(string[] args, Dictionary<string, string>? environment = null)
    {
        var env = environment ?? NoEnvironment;
        return BookstoreOptions.Parse(args, name => env.GetValueOrDefault(name));
    }
}
