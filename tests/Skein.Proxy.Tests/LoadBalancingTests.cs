using System.Globalization;
using System.Net;
using Skein.Proxy.Runtime;
using Skein.Proxy.Tests.Infrastructure;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using XdsCluster = Skein.Xds.Envoy.Config.Cluster.V3.Cluster;

namespace Skein.Proxy.Tests;

/// <summary>Consistent hashing on cookies, source IP and query parameters; priorities (locality failover); ORIGINAL_DST.</summary>
public sealed class LoadBalancingTests : IAsyncLifetime
{
    private readonly List<ScriptedBackend> _backends = [];
    private TestProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        for (var i = 0; i < 4; i++)
        {
            _backends.Add(await ScriptedBackend.StartAsync("b" + i));
        }

        _proxy = await TestProxy.StartExplicitAsync(new SeededRandomSource(17));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        foreach (var b in _backends)
        {
            await b.DisposeAsync();
        }
    }

    [Fact]
    public async Task CookieHash_NoCookie_ProxySetsItAndLaterCallsStick()
    {
        ConfigureHash("""[{"cookie": {"name": "session", "ttl": "3600s", "path": "/"}}]""");

        using var first = await _proxy.SendAsync("svc", "/");
        var setCookie = first.Headers.GetValues("set-cookie").Single();
        Assert.Matches("^session=\"[0-9a-f]{16}\"; Max-Age=3600; Path=/; HttpOnly$", setCookie);
        var cookie = setCookie.Split(';')[0];
        var firstBackend = first.Headers.GetValues("x-backend").Single();

        for (var i = 0; i < 30; i++)
        {
            using var response = await _proxy.SendAsync("svc", "/", configure: r => r.Headers.Add("Cookie", cookie));
            Assert.Equal(firstBackend, response.Headers.GetValues("x-backend").Single());
            Assert.False(response.Headers.Contains("set-cookie"));
        }
    }

    [Fact]
    public async Task CookieHash_DifferentCookies_SpreadOverBackends()
    {
        ConfigureHash("""[{"cookie": {"name": "session", "ttl": "0s"}}]""");

        var seen = new HashSet<string>();
        for (var i = 0; i < 40; i++)
        {
            using var response = await _proxy.SendAsync("svc", "/", configure: r => r.Headers.Add("Cookie", "session=user" + i));
            seen.Add(response.Headers.GetValues("x-backend").Single());
        }

        Assert.True(seen.Count >= 3, $"40 keys reached only {seen.Count} backends");
    }

    [Fact]
    public async Task SourceIpHash_SameClientAddress_SameBackendOnEveryConnection()
    {
        ConfigureHash("""[{"connection_properties": {"source_ip": true}}]""");

        var seen = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            using var response = await _proxy.SendAsync("svc", "/"); // a new connection (new source port) each time
            seen.Add(response.Headers.GetValues("x-backend").Single());
        }

        Assert.Single(seen);
    }

    [Fact]
    public async Task QueryParameterHash_SameValueSticks_DifferentValuesSpread()
    {
        ConfigureHash("""[{"query_parameter": {"name": "user"}}]""");

        var perUser = new Dictionary<string, HashSet<string>>();
        for (var round = 0; round < 5; round++)
        {
            for (var u = 0; u < 12; u++)
            {
                using var response = await _proxy.SendAsync("svc", "/items?user=u" + u + "&round=" + round);
                var set = perUser.TryGetValue("u" + u, out var s) ? s : perUser["u" + u] = [];
                set.Add(response.Headers.GetValues("x-backend").Single());
            }
        }

        Assert.All(perUser.Values, s => Assert.Single(s));
        Assert.True(perUser.Values.Select(s => s.Single()).Distinct().Count() >= 2);
    }

    [Fact]
    public async Task Priorities_LocalityFailover_LowerPriorityOnlyWhenHigherIsUnavailable()
    {
        var (local, remote) = (_backends[0], _backends[1]);
        ApplyPriorities(local, remote, localHealth: "HEALTHY");
        for (var i = 0; i < 10; i++)
        {
            using var response = await _proxy.SendAsync("svc", "/");
            Assert.Equal("b0", response.Headers.GetValues("x-backend").Single());
        }

        ApplyPriorities(local, remote, localHealth: "UNHEALTHY");
        for (var i = 0; i < 10; i++)
        {
            using var response = await _proxy.SendAsync("svc", "/");
            Assert.Equal("b1", response.Headers.GetValues("x-backend").Single());
        }

        Assert.Equal((10, 10), (local.Count, remote.Count));
    }

    [Fact]
    public void Priorities_PartiallyHealthyLevel_SpillsOverAsEnvoyComputes()
    {
        // P0: 1 of 2 healthy → health 70 → 70% of the load; P1 takes the remaining 30%.
        ApplyPriorities(_backends[0], _backends[2], localHealth: "HEALTHY", extraLocal: _backends[1], extraLocalHealth: "UNHEALTHY");
        var view = _proxy.Host.Store.Current.Clusters["localities"].Endpoints.View;

        Assert.Equal([70, 100], view.CumulativeLoads.ToArray());
        Assert.Equal([_backends[0].Port], view.Levels[0].Select(e => e.Port).ToArray());
    }

    [Fact]
    public async Task LocalityWeighted_Distribute_LocalitiesGetTheirWeight()
    {
        string Endpoint(ScriptedBackend b) =>
            """{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": @P@}}}}"""
                .Replace("@P@", b.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80")],
            [XdsConfig.CatchAll("80", "weighted")],
            [XdsConfig.EdsCluster("weighted", """, "lb_policy": "ROUND_ROBIN", "common_lb_config": {"locality_weighted_lb_config": {}}""")],
            [
                XdsConfig.Parse<ClusterLoadAssignment>("""
                    {"cluster_name": "weighted", "endpoints": [
                      {"locality": {"region": "eu"}, "load_balancing_weight": 80, "lb_endpoints": [@A@]},
                      {"locality": {"region": "us"}, "load_balancing_weight": 20, "lb_endpoints": [@B@, @C@]}]}
                    """.Replace("@A@", Endpoint(_backends[0]), StringComparison.Ordinal)
                    .Replace("@B@", Endpoint(_backends[1]), StringComparison.Ordinal)
                    .Replace("@C@", Endpoint(_backends[2]), StringComparison.Ordinal)),
            ]);

        for (var i = 0; i < 400; i++)
        {
            using var response = await _proxy.SendAsync("svc", "/");
        }

        Assert.InRange(_backends[0].Count, 296, 344); // 80% ± 6% of 400, although the other locality has twice the hosts
        Assert.Equal(400, _backends[0].Count + _backends[1].Count + _backends[2].Count);
    }

    [Fact]
    public async Task OriginalDestination_PassthroughCluster_GoesToTheRequestedAddress()
    {
        var target = _backends[3];
        var port = target.Port;
        _proxy.Apply(
            [XdsConfig.HttpListener(port, "passthrough")],
            [XdsConfig.CatchAll("passthrough", "original")],
            [XdsConfig.Parse<XdsCluster>("""{"name": "original", "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED", "connect_timeout": "1s"}""")]);

        using var response = await _proxy.SendAsync("127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture), "/passthrough");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("b3", response.Headers.GetValues("x-backend").Single());
        var entry = await _proxy.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/passthrough");
        Assert.Equal("127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture), entry.GetProperty("upstream_host").GetString());
    }

    private void ApplyPriorities(ScriptedBackend local, ScriptedBackend remote, string localHealth, ScriptedBackend? extraLocal = null, string extraLocalHealth = "HEALTHY")
    {
        string Endpoint(ScriptedBackend b, string health) =>
            """{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": @P@}}}, "health_status": "@H@"}"""
                .Replace("@P@", b.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
                .Replace("@H@", health, StringComparison.Ordinal);
        var p0 = Endpoint(local, localHealth) + (extraLocal is null ? string.Empty : "," + Endpoint(extraLocal, extraLocalHealth));
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80")],
            [XdsConfig.CatchAll("80", "localities")],
            [XdsConfig.EdsCluster("localities", """, "lb_policy": "ROUND_ROBIN", "common_lb_config": {"healthy_panic_threshold": {"value": 0}}""")],
            [
                XdsConfig.Parse<ClusterLoadAssignment>("""
                    {"cluster_name": "localities", "endpoints": [
                      {"locality": {"region": "eu", "zone": "eu-a"}, "load_balancing_weight": 1, "priority": 0, "lb_endpoints": [@P0@]},
                      {"locality": {"region": "us", "zone": "us-a"}, "load_balancing_weight": 1, "priority": 1, "lb_endpoints": [@P1@]}]}
                    """.Replace("@P0@", p0, StringComparison.Ordinal).Replace("@P1@", Endpoint(remote, "HEALTHY"), StringComparison.Ordinal)),
            ]);
    }

    private void ConfigureHash(string hashPolicies) => _proxy.Apply(
        [XdsConfig.HttpListener(80, "80")],
        [XdsConfig.CatchAll("80", "hashed", """, "hash_policy": @H@""".Replace("@H@", hashPolicies, StringComparison.Ordinal))],
        [XdsConfig.StaticCluster("hashed", [.. _backends.Select(b => b.Port)], extra: """, "lb_policy": "RING_HASH" """)]);
}
