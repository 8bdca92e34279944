using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Translation;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Route.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.Fault.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.LocalRatelimit.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;

namespace Skein.ControlPlane.Tests.Translation;

/// <summary>"A call like this, from that proxy, reaches this cluster": the generated routes evaluated as a proxy would.</summary>
public sealed class SimulationTests
{
    private const string Reviews = "outbound|9080||reviews.default.svc.cluster.local";
    private const string ReviewsV1 = "outbound|9080|v1|reviews.default.svc.cluster.local";
    private const string ReviewsV2 = "outbound|9080|v2|reviews.default.svc.cluster.local";
    private const string ReviewsV3 = "outbound|9080|v3|reviews.default.svc.cluster.local";

    internal static string Input(string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Translation", "testdata", name, "input.yaml"));

    private static ProxyResources For(string testCase, string instance) =>
        TestMesh.Generate(TestMesh.Build(Input(testCase)), TestMesh.Node(instance));

    private static Dictionary<string, string> Headers(params string[] pairs) =>
        pairs.Select(p => p.Split(": ", 2)).ToDictionary(p => p[0], p => p[1]);

    [Fact]
    public void Route_JasonFromFrontend_ReachesReviewsV2()
    {
        var frontend = For("header-routing", "frontend-0");

        var result = RouteSimulator.Outbound(frontend, 9080, new SimRequest("reviews:9080", "/reviews/1", Headers: Headers("end-user: jason")));

        Assert.Equal("reviews.default.svc.cluster.local:9080", result.VirtualHost);
        Assert.Equal(ReviewsV2, result.Cluster);
    }

    [Theory]
    [InlineData("reviews")]
    [InlineData("reviews:9080")]
    [InlineData("reviews.default")]
    [InlineData("reviews.default.svc.cluster.local:9080")]
    public void Route_OtherUserByAnyName_ReachesReviewsV1(string authority)
    {
        var frontend = For("header-routing", "frontend-0");

        var result = RouteSimulator.Outbound(frontend, 9080, new SimRequest(authority, "/reviews/1", Headers: Headers("end-user: mary")));

        Assert.Equal(ReviewsV1, result.Cluster);
    }

    [Fact]
    public void Route_ServiceVip_ReachesTheService()
    {
        var snapshot = TestMesh.Build(Input("header-routing"));
        var vip = snapshot.ServicesByHost["reviews.default.svc.cluster.local"].Vip!;
        var frontend = TestMesh.Generate(snapshot, TestMesh.Node("frontend-0"));

        var result = RouteSimulator.Outbound(frontend, 9080, new SimRequest($"{vip}:9080", "/"));

        Assert.StartsWith("198.19.", vip);
        Assert.Equal(ReviewsV1, result.Cluster);
    }

    [Fact]
    public void Route_UnknownHost_GoesToPassthroughCluster()
    {
        var frontend = For("bookstore", "frontend-0");

        var result = RouteSimulator.Outbound(frontend, 9080, new SimRequest("example.com:9080", "/"));

        Assert.Equal("allow_any", result.VirtualHost);
        Assert.Equal(WellKnownNames.PassthroughCluster, result.Cluster);
    }

    [Fact]
    public void Route_ShortNameFromAnotherNamespace_IsNotTheService()
    {
        var yaml = Input("bookstore") + """
            ---
            apiVersion: skein.dev/v1alpha1
            kind: Workload
            metadata: {name: batch, namespace: jobs}
            spec: {command: [batch], ports: [{name: http, port: 8080}]}
            """;
        var batch = TestMesh.Generate(TestMesh.Build(yaml), TestMesh.Node("batch-jobs-0", ns: "jobs"));

        Assert.Equal(WellKnownNames.PassthroughCluster, RouteSimulator.Outbound(batch, 9080, new SimRequest("reviews", "/")).Cluster);
        Assert.Equal(Reviews, RouteSimulator.Outbound(batch, 9080, new SimRequest("reviews.default", "/")).Cluster);
    }

    [Fact]
    public void Route_Canary_SplitsNinetyTen()
    {
        var frontend = For("canary", "frontend-0");

        var result = RouteSimulator.Outbound(frontend, 9080, new SimRequest("reviews:9080", "/"));

        Assert.Equal([$"{ReviewsV1}=90", $"{ReviewsV2}=10"], result.Clusters);
    }

    [Fact]
    public void Route_SourceLabelsMatchingProxy_AppliesOnlyToThatProxy()
    {
        var snapshot = TestMesh.Build(Input("source-labels"));
        var request = new SimRequest("reviews:9080", "/reviews?debug&page=2", Headers: Headers("end-user: jason"));

        var fromFrontend = RouteSimulator.Outbound(TestMesh.Generate(snapshot, TestMesh.Node("frontend-0")), 9080, request);
        var fromCatalog = RouteSimulator.Outbound(TestMesh.Generate(snapshot, TestMesh.Node("catalog-0")), 9080, new SimRequest("reviews:9080", "/"));
        var fromRatings = RouteSimulator.Outbound(TestMesh.Generate(snapshot, TestMesh.Node("ratings-0")), 9080, request);

        // Weights 1:2 are normalised to 33:67.
        Assert.Equal([$"{ReviewsV2}=33", $"{ReviewsV3}=67"], fromFrontend.Clusters);
        Assert.Equal([$"{ReviewsV2}=33", $"{ReviewsV3}=67"], fromCatalog.Clusters);
        Assert.Equal(ReviewsV1, fromRatings.Cluster);
    }

    [Theory]
    [InlineData("/reviews?page=2", "end-user: jason", ReviewsV1)] // debug query parameter missing
    [InlineData("/reviews?debug&page=x", "end-user: jason", ReviewsV1)] // page not numeric
    [InlineData("/reviews?debug&page=2", "x-canary: off", ReviewsV1)] // withoutHeaders holds
    public void Route_SourceLabelsWithConditionsNotMet_FallsThrough(string path, string header, string cluster)
    {
        var frontend = For("source-labels", "frontend-0");
        var headers = Headers("end-user: jason");
        var extra = header.Split(": ", 2);
        headers[extra[0]] = extra[1];

        var result = RouteSimulator.Outbound(frontend, 9080, new SimRequest("reviews:9080", path, Headers: headers));

        Assert.Equal(cluster, result.Cluster);
    }

    [Fact]
    public void Route_PostFromFrontend_SkipsMethodMatch()
    {
        var frontend = For("source-labels", "frontend-0");

        var result = RouteSimulator.Outbound(frontend, 9080, new SimRequest("reviews:9080", "/reviews?debug&page=2", "POST", Headers("end-user: jason", "x-present: 1")));

        Assert.Equal(ReviewsV3, result.Cluster);
        Assert.Equal("x-subset", Assert.Single(result.Route!.RequestHeadersToAdd).Header.Key);
    }

    [Fact]
    public void Route_OldBooks_Redirects()
    {
        var frontend = For("redirect-rewrite-direct", "frontend-0");

        var route = RouteSimulator.Outbound(frontend, 9080, new SimRequest("catalog:9080", "/old-books/7")).Route!;

        Assert.Equal("/books", route.Redirect.PathRedirect);
        Assert.Equal("catalog.default.svc.cluster.local", route.Redirect.HostRedirect);
        Assert.Equal(RedirectAction.Types.RedirectResponseCode.PermanentRedirect, route.Redirect.ResponseCode);
    }

    [Fact]
    public void Route_ApiPathInUpperCase_IsRewrittenToCatalog()
    {
        var frontend = For("redirect-rewrite-direct", "frontend-0");

        var route = RouteSimulator.Outbound(frontend, 9080, new SimRequest("catalog:9080", "/API/V1/books")).Route!;

        Assert.Equal("outbound|9080||catalog.default.svc.cluster.local", route.Route_.Cluster);
        Assert.Equal("/", route.Route_.PrefixRewrite);
        Assert.Equal("catalog.internal", route.Route_.HostRewriteLiteral);
    }

    [Fact]
    public void Route_Healthz_AnswersDirectly()
    {
        var frontend = For("redirect-rewrite-direct", "frontend-0");

        var route = RouteSimulator.Outbound(frontend, 9080, new SimRequest("catalog:9080", "/healthz")).Route!;

        Assert.Equal(200u, route.DirectResponse.Status);
        Assert.Equal("ok", route.DirectResponse.Body.InlineString);
    }

    [Fact]
    public void Route_Items_RegexRewriteWithHeaders()
    {
        var frontend = For("redirect-rewrite-direct", "frontend-0");

        var route = RouteSimulator.Outbound(frontend, 9080, new SimRequest("catalog:9080", "/items/42")).Route!;

        Assert.Equal("^/items/([0-9]+)$", route.Route_.RegexRewrite.Pattern.Regex);
        Assert.Equal(@"/v2/items/\1", route.Route_.RegexRewrite.Substitution);
        Assert.Equal(["x-debug"], route.RequestHeadersToRemove);
    }

    [Fact]
    public void Route_Timeout_SetsTimeoutAndMaxStreamDuration()
    {
        var frontend = For("redirect-rewrite-direct", "frontend-0");

        var action = RouteSimulator.Outbound(frontend, 9080, new SimRequest("catalog:9080", "/other")).Route!.Route_;

        Assert.Equal(TimeSpan.FromSeconds(3), action.Timeout.ToTimeSpan());
        Assert.Equal(TimeSpan.FromSeconds(3), action.MaxStreamDuration.MaxStreamDuration_.ToTimeSpan());
        Assert.Equal("GET,POST", action.Cors.AllowMethods);
    }

    [Fact]
    public void Route_FaultAbort_HalfOfRatingsCallsFail()
    {
        var reviews = For("fault-abort", "reviews-v3-0");

        var route = RouteSimulator.Outbound(reviews, 9080, new SimRequest("ratings:9080", "/ratings.Ratings/Get", "POST")).Route!;
        var fault = route.TypedPerFilterConfig[FilterNames.Fault].Unpack<HTTPFault>();

        Assert.Equal(500u, fault.Abort.HttpStatus);
        Assert.Equal(500_000u, fault.Abort.Percentage.Numerator);
        Assert.Equal(Skein.Xds.Envoy.Type.V3.FractionalPercent.Types.DenominatorType.Million, fault.Abort.Percentage.Denominator);
    }

    [Fact]
    public void Route_FaultDelay_TwoSecondsForHalf()
    {
        var reviews = For("fault-delay", "reviews-v2-0");

        var route = RouteSimulator.Outbound(reviews, 9080, new SimRequest("ratings:9080", "/")).Route!;
        var fault = route.TypedPerFilterConfig[FilterNames.Fault].Unpack<HTTPFault>();

        Assert.Equal(TimeSpan.FromSeconds(2), fault.Delay.FixedDelay.ToTimeSpan());
        Assert.Equal(500_000u, fault.Delay.Percentage.Numerator);
    }

    [Fact]
    public void Route_Retries_StatusCodesAndConditions()
    {
        var frontend = For("retries", "frontend-0");

        var retry = RouteSimulator.Outbound(frontend, 9080, new SimRequest("reviews:9080", "/")).Route!.Route_.RetryPolicy;

        Assert.Equal(3u, retry.NumRetries);
        Assert.Equal("5xx,connect-failure,reset", retry.RetryOn);
        Assert.Empty(retry.RetriableStatusCodes);
        Assert.Equal(TimeSpan.FromSeconds(2), retry.PerTryTimeout.ToTimeSpan());
        Assert.Equal(TimeSpan.FromMilliseconds(25), retry.RetryBackOff.BaseInterval.ToTimeSpan());
    }

    [Fact]
    public void Route_NoVirtualService_GetsIstioDefaultRetryPolicy()
    {
        var frontend = For("bookstore", "frontend-0");

        var retry = RouteSimulator.Outbound(frontend, 9080, new SimRequest("catalog:9080", "/")).Route!.Route_.RetryPolicy;

        Assert.Equal(2u, retry.NumRetries);
        Assert.Equal("connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", retry.RetryOn);
        Assert.Equal([503u], retry.RetriableStatusCodes);
    }

    [Fact]
    public void Route_Mirror_CopiesAQuarterToV2()
    {
        var frontend = For("mirror", "frontend-0");

        var action = RouteSimulator.Outbound(frontend, 9080, new SimRequest("reviews:9080", "/")).Route!.Route_;
        var mirror = Assert.Single(action.RequestMirrorPolicies);

        Assert.Equal(ReviewsV1, action.Cluster);
        Assert.Equal(ReviewsV2, mirror.Cluster);
        Assert.Equal(255_000u, mirror.RuntimeFraction.DefaultValue.Numerator);
    }

    [Fact]
    public void Route_PortMatch_OnlyInThatPortsRouteConfiguration()
    {
        var yaml = Input("bookstore").Replace("""
              name: reviews
            spec:
              selector:
                app: reviews
              ports:
                - name: http
                  port: 9080
            """, """
              name: reviews
            spec:
              selector:
                app: reviews
              ports:
                - name: http
                  port: 9080
                - name: http-admin
                  port: 9090
            """, StringComparison.Ordinal) + """
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: reviews}
            spec:
              hosts: [reviews]
              http:
                - match: [{port: 9090}]
                  route: [{destination: {host: reviews, subset: v3}}]
                - route: [{destination: {host: reviews, subset: v1}}]
            """;
        var frontend = TestMesh.Generate(TestMesh.Build(yaml), TestMesh.Node("frontend-0"));

        Assert.Equal("outbound|9090|v3|reviews.default.svc.cluster.local", RouteSimulator.Outbound(frontend, 9090, new SimRequest("reviews:9090", "/")).Cluster);
        Assert.Equal(ReviewsV1, RouteSimulator.Outbound(frontend, 9080, new SimRequest("reviews:9080", "/")).Cluster);
    }

    [Fact]
    public void Inbound_FrontendRateLimit_TokenBucketOnDefaultRoute()
    {
        var frontend = For("rate-limit", "frontend-0");

        var routes = InboundRoutes(frontend, 9080);
        var route = RouteSimulator.Evaluate(routes, new SimRequest("frontend:9080", "/")).Route!;
        var limit = route.TypedPerFilterConfig[FilterNames.LocalRateLimit].Unpack<LocalRateLimit>();

        Assert.Equal("inbound|9080||", route.Route_.Cluster);
        Assert.Equal(20u, limit.TokenBucket.MaxTokens); // 10 per second plus a burst of 10
        Assert.Equal(10u, limit.TokenBucket.TokensPerFill);
        Assert.Equal(TimeSpan.FromSeconds(1), limit.TokenBucket.FillInterval.ToTimeSpan());
    }

    [Fact]
    public void Inbound_ReviewsWriteLimit_OnlyOnMatchingRequests()
    {
        var reviews = For("rate-limit", "reviews-v1-0");
        var routes = InboundRoutes(reviews, 9080);

        var post = RouteSimulator.Evaluate(routes, new SimRequest("reviews:9080", "/reviews/1", "POST")).Route!;
        var get = RouteSimulator.Evaluate(routes, new SimRequest("reviews:9080", "/reviews/1")).Route!;

        Assert.True(post.TypedPerFilterConfig.ContainsKey(FilterNames.LocalRateLimit));
        Assert.False(get.TypedPerFilterConfig.ContainsKey(FilterNames.LocalRateLimit));
    }

    [Fact]
    public void Inbound_NoRateLimit_HasNoRateLimitFilter()
    {
        var catalog = For("rate-limit", "catalog-0");

        var hcm = InboundHcm(catalog, 9080);

        Assert.Equal([FilterNames.Router], hcm.HttpFilters.Select(f => f.Name));
    }

    [Fact]
    public void Listener_TcpServiceWithWeightedTcpRoute_ChainMatchedOnVipSplitsConnections()
    {
        var yaml = Input("bookstore") + """
            ---
            apiVersion: skein.dev/v1alpha1
            kind: Workload
            metadata: {name: db-v1}
            spec: {command: [db], labels: {app: db}, version: v1, ports: [{name: tcp-postgres, port: 5432}]}
            ---
            apiVersion: skein.dev/v1alpha1
            kind: Workload
            metadata: {name: db-v2}
            spec: {command: [db], labels: {app: db}, version: v2, ports: [{name: tcp-postgres, port: 5432}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: db}
            spec: {selector: {app: db}, ports: [{name: tcp-postgres, port: 5432}]}
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: db}
            spec: {host: db, subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]}
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: db}
            spec:
              hosts: [db]
              tcp:
                - match: [{sourceLabels: {app: catalog}}]
                  route: [{destination: {host: db, subset: v2}}]
                - route:
                    - {destination: {host: db, subset: v1}, weight: 80}
                    - {destination: {host: db, subset: v2}, weight: 20}
            """;
        var snapshot = TestMesh.Build(yaml);
        var vip = snapshot.ServicesByHost["db.default.svc.cluster.local"].Vip!;

        var frontend = (Listener)TestMesh.Generate(snapshot, TestMesh.Node("frontend-0")).Listeners.ByName["0.0.0.0_5432"].Message;
        var catalog = (Listener)TestMesh.Generate(snapshot, TestMesh.Node("catalog-0")).Listeners.ByName["0.0.0.0_5432"].Message;

        var chain = Assert.Single(frontend.FilterChains);
        Assert.Equal(vip, chain.FilterChainMatch.PrefixRanges.Single().AddressPrefix);
        var tcp = chain.Filters.Single().TypedConfig.Unpack<Skein.Xds.Envoy.Extensions.Filters.Network.TcpProxy.V3.TcpProxy>();
        Assert.Equal(
            ["outbound|5432|v1|db.default.svc.cluster.local=80", "outbound|5432|v2|db.default.svc.cluster.local=20"],
            tcp.WeightedClusters.Clusters.Select(c => $"{c.Name}={c.Weight}"));
        Assert.Equal(WellKnownNames.PassthroughCluster, frontend.DefaultFilterChain.Filters.Single().TypedConfig
            .Unpack<Skein.Xds.Envoy.Extensions.Filters.Network.TcpProxy.V3.TcpProxy>().Cluster);
        Assert.Equal("outbound|5432|v2|db.default.svc.cluster.local", catalog.FilterChains.Single().Filters.Single().TypedConfig
            .Unpack<Skein.Xds.Envoy.Extensions.Filters.Network.TcpProxy.V3.TcpProxy>().Cluster);
        Assert.False(TestMesh.Generate(snapshot, TestMesh.Node("frontend-0")).Routes.ByName.ContainsKey("5432"));
    }

    private static HttpConnectionManager InboundHcm(ProxyResources resources, int port)
    {
        var inbound = (Listener)resources.Listeners.ByName["virtualInbound"].Message;
        var chain = inbound.FilterChains.Single(c => c.FilterChainMatch.DestinationPort == (uint)port);
        return chain.Filters.Single().TypedConfig.Unpack<HttpConnectionManager>();
    }

    private static RouteConfiguration InboundRoutes(ProxyResources resources, int port) => InboundHcm(resources, port).RouteConfig;
}
