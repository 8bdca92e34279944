using System.Net;
using Skein.Proxy.Runtime;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests;

/// <summary>Each routing feature of the RouteConfiguration, observed as a client sees it (which backend answered, what it received).</summary>
public sealed class RoutingTests : IAsyncLifetime
{
    private TestBackend _v1 = null!;
    private TestBackend _v2 = null!;
    private TestProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _v1 = await TestBackend.StartAsync("v1");
        _v2 = await TestBackend.StartAsync("v2");
        _proxy = await TestProxy.StartExplicitAsync(new SeededRandomSource(42));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _v1.DisposeAsync();
        await _v2.DisposeAsync();
    }

    [Theory]
    [InlineData("reviews:9080", "exact-port")]
    [InlineData("reviews", "exact")]
    [InlineData("api.example.com", "suffix-long")]
    [InlineData("www.example.com", "suffix-short")]
    [InlineData("example.internal", "prefix")]
    [InlineData("other.org", "default")]
    [InlineData("REVIEWS:9080", "exact-port")]
    public async Task VirtualHost_DomainForms_SelectedAsEnvoyDoes(string host, string expectedRoute)
    {
        Configure("""
            [
              {"name": "exact-port", "domains": ["reviews:9080"], "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "exact-port"}}}]},
              {"name": "exact", "domains": ["reviews"], "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "exact"}}}]},
              {"name": "suffix-short", "domains": ["*.com"], "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "suffix-short"}}}]},
              {"name": "suffix-long", "domains": ["*.example.com", "*.example.com:9080"], "routes": [{"match": {"prefix": "/api"}, "direct_response": {"status": 200, "body": {"inline_string": "suffix-long"}}}, {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "suffix-short"}}}]},
              {"name": "prefix", "domains": ["example.*"], "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "prefix"}}}]},
              {"name": "default", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "default"}}}]}
            ]
            """);
        var path = host.StartsWith("api.", StringComparison.Ordinal) ? "/api/x" : "/";

        using var response = await _proxy.SendAsync(host, path);

        Assert.Equal(expectedRoute, await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/exact", "exact")]
    [InlineData("/exact?q=1", "exact")]
    [InlineData("/exact/more", "prefix")]
    [InlineData("/Prefix-Insensitive/x", "insensitive")]
    [InlineData("/items/12345", "regex")]
    [InlineData("/items/abc", "prefix")]
    [InlineData("/nothing", "prefix")]
    public async Task RouteMatch_PathPrefixExactAndRegex_FirstMatchWins(string path, string expected)
    {
        Configure("""
            [{"name": "h", "domains": ["*"], "routes": [
              {"match": {"path": "/exact"}, "direct_response": {"status": 200, "body": {"inline_string": "exact"}}},
              {"match": {"prefix": "/prefix-insensitive", "case_sensitive": false}, "direct_response": {"status": 200, "body": {"inline_string": "insensitive"}}},
              {"match": {"safe_regex": {"regex": "/items/[0-9]+"}}, "direct_response": {"status": 200, "body": {"inline_string": "regex"}}},
              {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "prefix"}}}
            ]}]
            """);

        using var response = await _proxy.SendAsync("any", path);

        Assert.Equal(expected, await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("x-version: v2", "exact")]
    [InlineData("x-user: admin-alice", "prefix")]
    [InlineData("x-tier: gold-member", "suffix")]
    [InlineData("x-id: A-123-Z", "regex")]
    [InlineData("x-note: please-contains-this", "contains")]
    [InlineData("x-debug: anything", "present")]
    [InlineData("x-count: 42", "range")]
    [InlineData("x-count: 420", "inverted")]
    [InlineData(":method: DELETE", "method")]
    [InlineData("", "inverted")]
    public async Task RouteMatch_HeaderMatchers_EachKindSelectsItsRoute(string header, string expected)
    {
        Configure("""
            [{"name": "h", "domains": ["*"], "routes": [
              {"match": {"prefix": "/", "headers": [{"name": "x-version", "string_match": {"exact": "v2"}}]}, "direct_response": {"status": 200, "body": {"inline_string": "exact"}}},
              {"match": {"prefix": "/", "headers": [{"name": "x-user", "prefix_match": "admin-"}]}, "direct_response": {"status": 200, "body": {"inline_string": "prefix"}}},
              {"match": {"prefix": "/", "headers": [{"name": "x-tier", "suffix_match": "-member"}]}, "direct_response": {"status": 200, "body": {"inline_string": "suffix"}}},
              {"match": {"prefix": "/", "headers": [{"name": "x-id", "safe_regex_match": {"regex": "[A-Z]-[0-9]+-[A-Z]"}}]}, "direct_response": {"status": 200, "body": {"inline_string": "regex"}}},
              {"match": {"prefix": "/", "headers": [{"name": "x-note", "string_match": {"contains": "contains"}}]}, "direct_response": {"status": 200, "body": {"inline_string": "contains"}}},
              {"match": {"prefix": "/", "headers": [{"name": "x-debug", "present_match": true}]}, "direct_response": {"status": 200, "body": {"inline_string": "present"}}},
              {"match": {"prefix": "/", "headers": [{"name": "x-count", "range_match": {"start": 1, "end": 100}}]}, "direct_response": {"status": 200, "body": {"inline_string": "range"}}},
              {"match": {"prefix": "/", "headers": [{"name": ":method", "string_match": {"exact": "DELETE"}}]}, "direct_response": {"status": 200, "body": {"inline_string": "method"}}},
              {"match": {"prefix": "/", "headers": [{"name": "x-count", "range_match": {"start": 1, "end": 100}, "invert_match": true, "treat_missing_header_as_empty": true}]}, "direct_response": {"status": 200, "body": {"inline_string": "inverted"}}},
              {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "none"}}}
            ]}]
            """);
        var method = header.StartsWith(":method", StringComparison.Ordinal) ? HttpMethod.Delete : HttpMethod.Get;

        using var response = await _proxy.SendAsync("any", "/", method, r =>
        {
            if (header.Length > 0 && !header.StartsWith(':'))
            {
                var i = header.IndexOf(':', StringComparison.Ordinal);
                r.Headers.TryAddWithoutValidation(header[..i], header[(i + 2)..]);
            }
        });

        Assert.Equal(expected, await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/?debug=1", "present")]
    [InlineData("/?user=alice&x=1", "exact")]
    [InlineData("/?user=ALICE", "ignore-case")]
    [InlineData("/?user=bob", "none")]
    public async Task RouteMatch_QueryParameterMatchers_SelectRoute(string path, string expected)
    {
        Configure("""
            [{"name": "h", "domains": ["*"], "routes": [
              {"match": {"prefix": "/", "query_parameters": [{"name": "debug", "present_match": true}]}, "direct_response": {"status": 200, "body": {"inline_string": "present"}}},
              {"match": {"prefix": "/", "query_parameters": [{"name": "user", "string_match": {"exact": "alice"}}]}, "direct_response": {"status": 200, "body": {"inline_string": "exact"}}},
              {"match": {"prefix": "/", "query_parameters": [{"name": "user", "string_match": {"exact": "alice", "ignore_case": true}}]}, "direct_response": {"status": 200, "body": {"inline_string": "ignore-case"}}},
              {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "none"}}}
            ]}]
            """);

        using var response = await _proxy.SendAsync("any", path);

        Assert.Equal(expected, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task WeightedClusters_SeededRandom_SplitFollowsWeights()
    {
        Configure(
            """[{"name": "h", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [{"name": "v1", "weight": 80}, {"name": "v2", "weight": 20}]}}}]}]""");
        var counts = new Dictionary<string, int> { ["v1"] = 0, ["v2"] = 0 };

        for (var i = 0; i < 200; i++)
        {
            using var response = await _proxy.SendAsync("reviews", "/");
            counts[response.Headers.GetValues("x-backend").Single()]++;
        }

        // Seed 42 gives a fixed sequence: the split is exact for a given seed and near 80/20.
        Assert.InRange(counts["v1"], 145, 175);
        Assert.Equal(200, counts["v1"] + counts["v2"]);
    }

    [Fact]
    public async Task HeaderMutations_AllLevels_AppliedToRequestAndResponse()
    {
        Configure(
            """
            [{"name": "h", "domains": ["*"],
              "request_headers_to_add": [{"header": {"key": "x-vhost", "value": "vh"}}],
              "response_headers_to_add": [{"header": {"key": "x-vhost-resp", "value": "vh"}}],
              "routes": [{"match": {"prefix": "/"},
                "request_headers_to_add": [
                  {"header": {"key": "x-added", "value": "route"}},
                  {"header": {"key": "x-set", "value": "new"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
                  {"header": {"key": "x-keep", "value": "ignored"}, "append_action": "ADD_IF_ABSENT"}],
                "request_headers_to_remove": ["x-secret"],
                "response_headers_to_add": [{"header": {"key": "x-route-resp", "value": "r"}}],
                "response_headers_to_remove": ["x-backend"],
                "route": {"weighted_clusters": {"clusters": [{"name": "v1", "weight": 100,
                  "request_headers_to_add": [{"header": {"key": "x-wc", "value": "v1"}}]}]}}}]}]
            """,
            extra: """, "request_headers_to_add": [{"header": {"key": "x-global", "value": "g"}}], "response_headers_to_add": [{"header": {"key": "x-global-resp", "value": "g"}}]""");

        using var response = await _proxy.SendAsync("any", "/", configure: r =>
        {
            r.Headers.Add("x-set", "old");
            r.Headers.Add("x-keep", "mine");
            r.Headers.Add("x-secret", "s3cr3t");
        });
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal("route", echo.Headers["x-added"]);
        Assert.Equal("new", echo.Headers["x-set"]);
        Assert.Equal("mine", echo.Headers["x-keep"]);
        Assert.False(echo.Headers.ContainsKey("x-secret"));
        Assert.Equal("vh", echo.Headers["x-vhost"]);
        Assert.Equal("g", echo.Headers["x-global"]);
        Assert.Equal("v1", echo.Headers["x-wc"]);
        Assert.Equal("r", response.Headers.GetValues("x-route-resp").Single());
        Assert.Equal("vh", response.Headers.GetValues("x-vhost-resp").Single());
        Assert.Equal("g", response.Headers.GetValues("x-global-resp").Single());
        Assert.False(response.Headers.Contains("x-backend"));
    }

    [Fact]
    public async Task Rewrites_PrefixAndHostLiteral_BackendSeesRewrittenRequest()
    {
        Configure(
            """[{"name": "h", "domains": ["*"], "routes": [{"match": {"prefix": "/api/"}, "route": {"cluster": "v1", "prefix_rewrite": "/v2/", "host_rewrite_literal": "internal.svc"}}]}]""");

        using var response = await _proxy.SendAsync("public.example", "/api/users?id=7");
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal("/v2/users?id=7", echo.Path);
        Assert.Equal("internal.svc", echo.Host);
    }

    [Fact]
    public async Task Rewrites_RegexRewrite_SubstitutesCaptureGroups()
    {
        Configure(
            """[{"name": "h", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "v1", "regex_rewrite": {"pattern": {"regex": "^/users/([0-9]+)/profile$"}, "substitution": "/profiles/\\1"}}}]}]""");

        using var response = await _proxy.SendAsync("any", "/users/42/profile?full=1");

        Assert.Equal("/profiles/42?full=1", EchoReply.Parse(await response.Content.ReadAsStringAsync()).Path);
    }

    [Theory]
    [InlineData("MOVED_PERMANENTLY", 301, "\"https_redirect\": true", "https://shop.example:8443/cart?x=1")]
    [InlineData("FOUND", 302, "\"host_redirect\": \"new.example\", \"path_redirect\": \"/moved\"", "http://new.example:8443/moved?x=1")]
    [InlineData("SEE_OTHER", 303, "\"prefix_rewrite\": \"/basket\", \"strip_query\": true", "http://shop.example:8443/basket")]
    [InlineData("TEMPORARY_REDIRECT", 307, "\"port_redirect\": 9443, \"scheme_redirect\": \"https\"", "https://shop.example:9443/cart?x=1")]
    [InlineData("PERMANENT_REDIRECT", 308, "\"path_redirect\": \"/new?y=2\"", "http://shop.example:8443/new?y=2")]
    public async Task Redirect_EachCodeAndRewrite_LocationAsEnvoyBuildsIt(string code, int status, string fields, string location)
    {
        Configure(
            "[{\"name\": \"h\", \"domains\": [\"*\"], \"routes\": [{\"match\": {\"prefix\": \"/cart\"}, \"redirect\": {\"response_code\": \"" + code + "\", " + fields + "}}]}]");

        using var response = await _proxy.SendAsync("shop.example:8443", "/cart?x=1");

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(location, response.Headers.Location!.ToString());
    }

    [Fact]
    public async Task DirectResponse_StatusAndBody_ReturnedWithoutUpstream()
    {
        Configure("""[{"name": "h", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 418, "body": {"inline_string": "teapot"}}}]}]""");

        using var response = await _proxy.SendAsync("any", "/");

        Assert.Equal(418, (int)response.StatusCode);
        Assert.Equal("teapot", await response.Content.ReadAsStringAsync());
        Assert.Equal(0, _v1.Requests + _v2.Requests);
    }

    [Fact]
    public async Task ClusterHeader_NamesCluster_RoutedThere()
    {
        Configure("""[{"name": "h", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster_header": "x-cluster"}}]}]""");

        using var response = await _proxy.SendAsync("any", "/", configure: r => r.Headers.Add("x-cluster", "v2"));

        Assert.Equal("v2", response.Headers.GetValues("x-backend").Single());
    }

    [Fact]
    public async Task LoadBalancing_RoundRobinOverTwoEndpoints_AlternatesBackends()
    {
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80")],
            [XdsConfig.CatchAll("80", "both")],
            [XdsConfig.StaticCluster("both", [_v1.Port, _v2.Port])]);

        var seen = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await _proxy.SendAsync("any", "/");
            seen.Add(response.Headers.GetValues("x-backend").Single());
        }

        Assert.Equal(2, seen.Distinct().Count());
        Assert.NotEqual(seen[0], seen[1]);
        Assert.Equal(seen[0], seen[2]);
    }

    // Explicit mode picks the listener by the Host header's port (80 when absent), as transparent mode does by destination port.
    [Fact]
    public async Task LoadBalancing_RingHashOnHeader_SameKeyStaysOnOneBackend()
    {
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80")],
            [XdsConfig.Routes("80", """[{"name": "h", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "both", "hash_policy": [{"header": {"header_name": "x-user"}}]}}]}]""")],
            [XdsConfig.StaticCluster("both", [_v1.Port, _v2.Port], extra: """, "lb_policy": "RING_HASH" """)]);

        var byUser = new Dictionary<string, HashSet<string>>();
        for (var i = 0; i < 96; i++)
        {
            var user = "user" + (i % 32);
            using var response = await _proxy.SendAsync("any", "/", configure: r => r.Headers.Add("x-user", user));
            (byUser.TryGetValue(user, out var set) ? set : byUser[user] = []).Add(response.Headers.GetValues("x-backend").Single());
        }

        Assert.All(byUser.Values, backends => Assert.Single(backends)); // sticky per key
        Assert.Equal(2, byUser.Values.SelectMany(b => b).Distinct().Count()); // and spread over both
    }

    private void Configure(string virtualHosts, string extra = "") =>
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80"), XdsConfig.HttpListener(9080, "80"), XdsConfig.HttpListener(8443, "80")],
            [XdsConfig.Routes("80", virtualHosts, extra)],
            [XdsConfig.StaticCluster("v1", [_v1.Port]), XdsConfig.StaticCluster("v2", [_v2.Port])]);
}
