using System.Diagnostics;
using System.Net;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests;

/// <summary>Atomic config swaps under load: requests in flight finish on their snapshot, none fail.</summary>
public sealed class ConfigSwapTests
{
    [Fact]
    public async Task Swap_RoutesChangeEvery100msAt1000Rps_NoRequestFails()
    {
        await using var v1 = await TestBackend.StartAsync("v1");
        await using var v2 = await TestBackend.StartAsync("v2");
        await using var proxy = await TestProxy.StartExplicitAsync();
        var listeners = new[] { XdsConfig.HttpListener(80, "80") };
        var routeA = XdsConfig.Routes("80", """[{"name": "a", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [{"name": "v1", "weight": 50}, {"name": "v2", "weight": 50}]}}}]}]""");
        var routeB = XdsConfig.Routes("80", """[{"name": "b", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "request_headers_to_add": [{"header": {"key": "x-b", "value": "1"}}], "route": {"cluster": "v2"}}]}]""");
        var clustersA = new[] { XdsConfig.StaticCluster("v1", [v1.Port]), XdsConfig.StaticCluster("v2", [v2.Port]) };
        var clustersB = new[] { XdsConfig.StaticCluster("v2", [v2.Port]), XdsConfig.StaticCluster("v1", [v1.Port], extra: """, "connect_timeout": "2s" """) };
        proxy.Apply(listeners, [routeA], clustersA);

        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 64 })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{proxy.OutboundPort}"),
            Timeout = TimeSpan.FromSeconds(10),
        };
        client.DefaultRequestHeaders.Host = "reviews";
        var duration = TimeSpan.FromSeconds(10);
        const int Workers = 20;
        var interval = TimeSpan.FromMilliseconds(1000.0 * Workers / 1000); // 20 workers x 50 rps = 1000 rps
        var ok = 0;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(duration);

        var swaps = 0;
        var swapper = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(100);
                var b = ++swaps % 2 == 1;
                proxy.Apply(listeners, [b ? routeB : routeA], b ? clustersB : clustersA);
            }
        });

        var workers = Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
        {
            for (var k = 0; ; k++)
            {
                var due = interval * k + TimeSpan.FromMilliseconds(w);
                if (due >= duration)
                {
                    return;
                }

                var wait = due - clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait);
                }

                try
                {
                    using var response = await client.GetAsync("/load");
                    await response.Content.ReadAsByteArrayAsync();
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref ok);
                    }
                    else
                    {
                        failures.Enqueue($"{(int)response.StatusCode} {response.Headers}");
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    failures.Enqueue(clock.ElapsedMilliseconds + " " + e.GetType().Name + " " + e.Message);
                }
            }
        })).ToArray();

        try
        {
            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(40));
        }
        catch (TimeoutException)
        {
            using var admin = new HttpClient();
            var clusters = await admin.GetStringAsync($"http://127.0.0.1:{proxy.AdminPort}/clusters");
            Assert.Fail($"stuck: ok={ok} logged={proxy.AccessLog.Entries.Length} backend1={v1.Requests} backend2={v2.Requests} failures={failures.Count} {string.Join(" | ", failures.Take(3))}\n{clusters}");
        }
        await swapper.WaitAsync(TimeSpan.FromSeconds(5));

        var slow = proxy.AccessLog.Entries.Where(e => e.GetProperty("duration").GetInt64() > 500 || e.GetProperty("response_code").GetInt32() != 200).Take(5).Select(e => e.ToString());
        Assert.True(failures.IsEmpty, $"{failures.Count} failed of {proxy.AccessLog.Entries.Length} logged: {string.Join(" | ", failures.Take(5))} slow: {string.Join(" | ", slow)}");
        Assert.InRange(ok, 9_500, 10_000); // every scheduled request answered
        Assert.True(swaps >= 80, $"only {swaps} swaps");
    }
}
