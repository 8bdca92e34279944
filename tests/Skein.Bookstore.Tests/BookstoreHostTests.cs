using Skein.Bookstore.Tests.Infrastructure;

namespace Skein.Bookstore.Tests;

public sealed class BookstoreHostTests
{
    [Fact]
    public async Task Run_UnknownRole_ExitsWith2AndSaysWhy()
    {
        var (exitCode, output) = await BookstoreProcess.RunToExitAsync("--role", "cart");

        Assert.Equal(2, exitCode);
        Assert.Contains("'cart' is not one of frontend, catalog, reviews, ratings", output);
    }

    [Fact]
    public async Task Run_Help_PrintsUsageAndExits0()
    {
        var (exitCode, output) = await BookstoreProcess.RunToExitAsync("--help");

        Assert.Equal(0, exitCode);
        Assert.Contains("usage: bookstore --role", output);
        Assert.Contains("FAIL_PERCENT", output);
    }

    [Fact]
    public async Task Start_WarmCatalog_ListensWithinThreeSeconds()
    {
        // The first start in a test run pays for cold disk caches; measure a second one. On an idle
        // machine it takes about 0.3-0.5 s; the bound leaves room for a loaded CI runner.
        await using (await BookstoreProcess.StartAsync("catalog"))
        {
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using var catalog = await BookstoreProcess.StartAsync("catalog");

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed}");
    }
}
