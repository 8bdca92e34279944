using System.Net;
using System.Text.Json;
using Skein.Proxy.Runtime;
using Skein.Proxy.Tests.Infrastructure;
using Skein.Xds;

namespace Skein.Proxy.Tests;

/// <summary>The admin (127.0.0.1), stats and health ports as an operator uses them.</summary>
public sealed class AdminTests
{
    private const string Cluster = "outbound|9080||backend.default.svc.cluster.local";

    [Fact]
    public async Task HealthReady_BeforeAndAfterFirstConfig_503Then200()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var ads = new TestAdsServer();
        await ads.StartAsync();
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, XdsAddress = ads.Address });
        using var client = new HttpClient();
        var health = $"http://127.0.0.1:{proxy.Host.HealthPort}/healthz/ready";

        using (var before = await client.GetAsync(health))
        using (var readyBefore = await client.GetAsync($"http://127.0.0.1:{proxy.AdminPort}/ready"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, before.StatusCode);
            Assert.Equal("PRE_INITIALIZING\n", await readyBefore.Content.ReadAsStringAsync());
        }

        await ServeAsync(ads, backend.Port);
        await WaitAsync(async () => (await client.GetAsync(health)).StatusCode == HttpStatusCode.OK);
        using var ready = await client.GetAsync($"http://127.0.0.1:{proxy.AdminPort}/ready");
        Assert.Equal("LIVE\n", await ready.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ConfigDump_AfterAds_ShowsEachTypeWithVersions()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var ads = new TestAdsServer();
        await ads.StartAsync();
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, XdsAddress = ads.Address });
        await ServeAsync(ads, backend.Port);
        using var client = new HttpClient();
        await WaitAsync(() => Task.FromResult(proxy.Host.Store.IsReady));

        var dump = JsonDocument.Parse(await client.GetStringAsync($"http://127.0.0.1:{proxy.AdminPort}/config_dump")).RootElement;
        var configs = dump.GetProperty("configs").EnumerateArray().ToDictionary(c => c.GetProperty("@type").GetString()!);

        var clusters = configs["type.googleapis.com/envoy.admin.v3.ClustersConfigDump"];
        Assert.Equal("c1", clusters.GetProperty("version_info").GetString());
        var dynamicCluster = clusters.GetProperty("dynamic_active_clusters")[0];
        Assert.Equal("c1", dynamicCluster.GetProperty("version_info").GetString());
        Assert.Equal(Cluster, dynamicCluster.GetProperty("cluster").GetProperty("name").GetString());
        Assert.Equal(TypeUrls.Cluster, dynamicCluster.GetProperty("cluster").GetProperty("@type").GetString());
        var listeners = configs["type.googleapis.com/envoy.admin.v3.ListenersConfigDump"];
        Assert.Equal("0.0.0.0_9080", listeners.GetProperty("dynamic_listeners")[0].GetProperty("name").GetString());
        Assert.Equal("l1", listeners.GetProperty("dynamic_listeners")[0].GetProperty("active_state").GetProperty("version_info").GetString());
        Assert.Equal("r1", configs["type.googleapis.com/envoy.admin.v3.RoutesConfigDump"].GetProperty("version_info").GetString());
        Assert.Equal("e1", configs["type.googleapis.com/envoy.admin.v3.EndpointsConfigDump"].GetProperty("version_info").GetString());
    }

    [Fact]
    public async Task ClustersAndStats_AfterTraffic_ShowEndpointsHealthAndCounters()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var proxy = await TestProxy.StartExplicitAsync();
        proxy.Apply([XdsConfig.HttpListener(80, "80")], [XdsConfig.CatchAll("80", "web")], [XdsConfig.StaticCluster("web", [backend.Port])]);
        for (var i = 0; i < 3; i++)
        {
            (await proxy.SendAsync("web", "/")).Dispose();
        }

        using var client = new HttpClient();
        var clusters = await client.GetStringAsync($"http://127.0.0.1:{proxy.AdminPort}/clusters");
        var stats = await client.GetStringAsync($"http://127.0.0.1:{proxy.AdminPort}/stats");
        var prometheus = string.Empty;
        await WaitAsync(async () =>
        {
            prometheus = await client.GetStringAsync($"http://127.0.0.1:{proxy.Host.StatsPort}/stats/prometheus");
            return prometheus.Contains("response_flags=\"-\"} 3", StringComparison.Ordinal);
        });

        Assert.Contains($"web::127.0.0.1:{backend.Port}::rq_total::3", clusters, StringComparison.Ordinal);
        Assert.Contains($"web::127.0.0.1:{backend.Port}::health_flags::healthy", clusters, StringComparison.Ordinal);
        Assert.Contains("cluster.web.upstream_rq_total: 3", stats, StringComparison.Ordinal);
        Assert.Contains("# TYPE skein_proxy_requests_total counter", prometheus, StringComparison.Ordinal);
        Assert.Matches("skein_proxy_requests_total\\{cluster=\"web\",direction=\"outbound\",response_code=\"200\",response_flags=\"-\"\\} 3", prometheus);
        Assert.Contains("skein_proxy_request_duration_milliseconds_bucket{", prometheus, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DrainListeners_Post_NewConnectionsRefusedAndHealthNotReady()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var proxy = await TestProxy.StartExplicitAsync();
        proxy.Apply([XdsConfig.HttpListener(80, "80")], [XdsConfig.CatchAll("80", "web")], [XdsConfig.StaticCluster("web", [backend.Port])]);
        using var admin = new HttpClient();

        using var get = await admin.GetAsync($"http://127.0.0.1:{proxy.AdminPort}/drain_listeners");
        using var post = await admin.PostAsync($"http://127.0.0.1:{proxy.AdminPort}/drain_listeners", null);
        using var health = await admin.GetAsync($"http://127.0.0.1:{proxy.Host.HealthPort}/healthz/ready");

        Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
        Assert.Equal(HttpStatusCode.OK, post.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        await Assert.ThrowsAsync<HttpRequestException>(() => proxy.SendAsync("web", "/"));
    }

    [Fact]
    public async Task AdminPort_BoundToLoopbackOnly()
    {
        await using var proxy = await TestProxy.StartExplicitAsync();

        var endpoint = proxy.Host.AdminPort;

        using var client = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"http://127.0.0.1:{endpoint}/")).StatusCode);
        var addresses = System.Net.NetworkInformation.IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpListeners();
        Assert.Contains(addresses, a => a.Port == endpoint && IPAddress.IsLoopback(a.Address));
        Assert.DoesNotContain(addresses, a => a.Port == endpoint && !IPAddress.IsLoopback(a.Address));
    }

    private static async Task ServeAsync(TestAdsServer ads, int backendPort)
    {
        await ads.NextAsync(TypeUrls.Cluster);
        await ads.SendAsync(TypeUrls.Cluster, "c1", XdsConfig.EdsCluster(Cluster));
        await ads.NextAsync(TypeUrls.ClusterLoadAssignment);
        await ads.SendAsync(TypeUrls.ClusterLoadAssignment, "e1", XdsConfig.Endpoints(Cluster, backendPort));
        await ads.NextAsync(TypeUrls.Listener);
        await ads.SendAsync(TypeUrls.Listener, "l1", XdsConfig.HttpListener(9080, "9080"));
        await ads.NextAsync(TypeUrls.RouteConfiguration);
        await ads.SendAsync(TypeUrls.RouteConfiguration, "r1", XdsConfig.CatchAll("9080", Cluster));
    }

    private static async Task WaitAsync(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 100; i++)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail("not within 5 s");
    }
}
