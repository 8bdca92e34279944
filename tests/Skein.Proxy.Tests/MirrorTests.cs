using System.Diagnostics;
using System.Net;
using Skein.Proxy.Runtime;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests;

/// <summary>Request mirroring (route request_mirror_policies): copies go to the mirror cluster, fire and forget.</summary>
public sealed class MirrorTests : IAsyncLifetime
{
    private ScriptedBackend _primary = null!;
    private ScriptedBackend _shadow = null!;
    private TestProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _primary = await ScriptedBackend.StartAsync("primary");
        _shadow = await ScriptedBackend.StartAsync("shadow");
        _proxy = await TestProxy.StartExplicitAsync(new SeededRandomSource(9));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _primary.DisposeAsync();
        await _shadow.DisposeAsync();
    }

    [Fact]
    public async Task Mirror_CopyReachesMirrorClusterWithShadowAuthority_ItsAnswerIgnored()
    {
        _shadow.Handler = ScriptedBackend.FailWhen(_ => true, 500);
        Configure("""[{"cluster": "shadow"}]""");

        using var response = await _proxy.SendAsync("reviews:9080", "/mirror?x=1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("primary", response.Headers.GetValues("x-backend").Single());
        var copy = await WaitForShadowAsync(1);
        Assert.Equal("reviews-shadow:9080", copy[0].Host);
        Assert.Equal("/mirror?x=1", copy[0].Path);
        Assert.Equal("reviews:9080", _primary.Seen.Single().Host);
        Assert.Equal(_primary.Seen.Single().Headers["x-request-id"], copy[0].Headers["x-request-id"]);
    }

    [Fact]
    public async Task Mirror_SlowMirror_DoesNotSlowTheCaller()
    {
        _shadow.Handler = (ctx, _) => Task.Delay(3000);
        Configure("""[{"cluster": "shadow"}]""");
        using (await _proxy.SendAsync("reviews:9080", "/warm-up")) { }

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 5; i++)
        {
            using var response = await _proxy.SendAsync("reviews:9080", "/slow-mirror");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2.5), $"5 calls took {watch.Elapsed} with a 3 s mirror");
        await WaitForShadowAsync(6);
    }

    [Fact]
    public async Task Mirror_RequestBody_SentToTheMirrorToo()
    {
        Configure("""[{"cluster": "shadow"}]""");

        using var response = await _proxy.SendAsync("reviews:9080", "/body", HttpMethod.Post, r => r.Content = new ByteArrayContent(new byte[5000]));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var copy = await WaitForShadowAsync(1);
        Assert.Equal(5000, copy[0].BodyLength);
        Assert.Equal(5000, _primary.Seen.Single().BodyLength);
    }

    [Fact]
    public async Task Mirror_RuntimeFraction_OnlyThatShareIsMirrored()
    {
        Configure("""
            [{"cluster": "shadow", "runtime_fraction": {"default_value": {"numerator": 0, "denominator": "HUNDRED"}}},
             {"cluster": "shadow", "runtime_fraction": {"default_value": {"numerator": 50, "denominator": "HUNDRED"}}}]
            """);

        for (var i = 0; i < 100; i++)
        {
            using var response = await _proxy.SendAsync("reviews:9080", "/fraction");
        }

        await Task.Delay(1000);
        Assert.InRange(_shadow.Count, 30, 70); // 50% of 100 (the 0% policy sends none)
    }

    private async Task<IReadOnlyList<SeenRequest>> WaitForShadowAsync(int count)
    {
        for (var i = 0; i < 100 && _shadow.Count < count; i++)
        {
            await Task.Delay(50);
        }

        for (var i = 0; i < 100 && _shadow.Seen.Count < Math.Min(count, _shadow.Count); i++)
        {
            await Task.Delay(50);
        }

        Assert.True(_shadow.Count >= count, $"the mirror saw {_shadow.Count} requests, want {count}");
        return _shadow.Seen;
    }

    private void Configure(string mirrors) => _proxy.Apply(
        [XdsConfig.HttpListener(9080, "9080")],
        [XdsConfig.CatchAll("9080", "primary", """, "request_mirror_policies": @M@""".Replace("@M@", mirrors, StringComparison.Ordinal))],
        [XdsConfig.StaticCluster("primary", [_primary.Port]), XdsConfig.StaticCluster("shadow", [_shadow.Port])]);
}
