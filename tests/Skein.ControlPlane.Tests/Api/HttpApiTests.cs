using System.Text;
using Skein.ControlPlane.Tests.Translation;
using Skein.ControlPlane.Tests.Xds;
using Skein.Xds;

namespace Skein.ControlPlane.Tests.Api;

public sealed class HttpApiTests
{
    private const string Limit = """
        apiVersion: skein.dev/v1alpha1
        kind: RateLimit
        metadata: {name: ratings}
        spec: {service: ratings, requestsPerUnit: 5, unit: SECOND}
        """;

    [Fact]
    public async Task GetConfig_KindFilter_ReturnsYamlOfThatKind()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(SimulationTests.Input("bookstore"));
        await cp.PostConfigAsync(Limit);

        var yaml = await cp.Http.GetStringAsync("/api/v1/config?kind=RateLimit");

        Assert.Contains("kind: RateLimit", yaml, StringComparison.Ordinal);
        Assert.Contains("requestsPerUnit: 5", yaml, StringComparison.Ordinal);
        Assert.DoesNotContain("kind: Service", yaml, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeleteConfig_AppliedResource_DeletedAndPushed()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(SimulationTests.Input("bookstore"));
        await cp.PostConfigAsync(Limit);
        var version = cp.Host.State.Current.Version;

        using var request = new HttpRequestMessage(HttpMethod.Delete, "/api/v1/config") { Content = new StringContent(Limit, Encoding.UTF8) };
        using var response = await cp.Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.IsSuccessStatusCode, body);
        Assert.Contains("\"action\": \"deleted\"", body, StringComparison.Ordinal);
        Assert.True(cp.Host.State.Current.Version > version);
        Assert.DoesNotContain(cp.Host.State.Current.RateLimits, r => r.Name == "ratings");
    }

    [Fact]
    public async Task Registry_RegisterAndDeregister_VipsAndEndpointsListed()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(SimulationTests.Input("bookstore"));

        using (var content = new StringContent("""{"id": "catalog-1", "workload": "catalog", "address": "198.18.0.50", "healthy": false}"""))
        {
            (await cp.Http.PostAsync("/api/v1/registry/instances", content)).EnsureSuccessStatusCode();
        }

        using var registry = await cp.GetJsonAsync("/api/v1/registry");
        var catalog = registry.RootElement.GetProperty("services").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "catalog");
        Assert.StartsWith("198.19.", catalog.GetProperty("vip").GetString(), StringComparison.Ordinal);
        Assert.Contains("catalog", catalog.GetProperty("hostnames").EnumerateArray().Select(h => h.GetString()));
        var unhealthy = catalog.GetProperty("endpoints").EnumerateArray().Single(e => e.GetProperty("instance").GetString() == "catalog-1");
        Assert.False(unhealthy.GetProperty("healthy").GetBoolean());

        var deleted = await cp.Http.DeleteAsync("/api/v1/registry/instances/catalog-1");
        var missing = await cp.Http.DeleteAsync("/api/v1/registry/instances/catalog-1");
        Assert.Equal(System.Net.HttpStatusCode.OK, deleted.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Registry_BadRegistration_400WithReason()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(SimulationTests.Input("bookstore"));

        using var content = new StringContent("""{"id": "x", "workload": "catalog", "address": "nowhere"}""");
        var response = await cp.Http.PostAsync("/api/v1/registry/instances", content);

        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("address must be an IP address", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_AfterPushes_CountersAndGauges()
    {
        await using var cp = await ControlPlaneRunner.StartAsync(SimulationTests.Input("bookstore"));
        await using var client = cp.Connect("frontend-0");
        await client.SubscribeAsync(TypeUrls.Cluster);
        await client.AckAsync(await client.NextAsync());
        await new JsonElementWaiter(cp).WaitAsync("/api/v1/proxies", r => r.GetProperty("proxies")[0].GetProperty("types").GetProperty("clusters").GetProperty("synced").GetBoolean());

        var text = await cp.Http.GetStringAsync("/metrics");

        Assert.Contains("skein_control_proxies_connected 1", text, StringComparison.Ordinal);
        Assert.Contains("skein_control_xds_pushes_total{type=\"clusters\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("skein_control_xds_acks_total{type=\"clusters\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("skein_control_xds_ack_seconds_count{type=\"clusters\"} 1", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restart_WithDataDirectory_KeepsAppliedConfigInstancesAndVersions()
    {
        var data = Path.Combine(Path.GetTempPath(), "skein-restart-tests", Guid.NewGuid().ToString("n"));
        try
        {
            long version;
            string? vip;
            await using (var first = await ControlPlaneRunner.StartAsync(SimulationTests.Input("bookstore"), dataDir: data))
            {
                Assert.Equal(200, (await first.PostConfigAsync(Limit)).Status);
                version = first.Host.State.Current.Version;
                vip = first.Host.State.Current.ServicesByHost["reviews.default.svc.cluster.local"].Vip;
            }

            await using var second = await ControlPlaneRunner.StartAsync(SimulationTests.Input("bookstore"), dataDir: data);
            var snapshot = second.Host.State.Current;

            Assert.Contains(snapshot.RateLimits, r => r.Name == "ratings");
            Assert.True(snapshot.Version > version);
            Assert.Equal(vip, snapshot.ServicesByHost["reviews.default.svc.cluster.local"].Vip);
            Assert.Equal(6, second.Host.Registry.Instances.Count);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}
