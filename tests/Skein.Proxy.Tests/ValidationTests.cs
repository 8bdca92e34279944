using Skein.Proxy.Discovery;
using Skein.Proxy.Protocol;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests;

/// <summary>Config the proxy refuses (what a NACK's error_detail or a startup error says), and small formats.</summary>
public sealed class ValidationTests
{
    [Theory]
    [InlineData("""[{"name": "a", "domains": ["x"], "routes": []}, {"name": "b", "domains": ["x"], "routes": []}]""", "duplicate domain \"x\"")]
    [InlineData("""[{"name": "a", "domains": ["a.*.com"], "routes": []}]""", "a wildcard may only be a prefix or suffix")]
    [InlineData("""[{"name": "a", "domains": ["*"], "routes": [{"match": {"safe_regex": {"regex": "a(?=b)"}}, "route": {"cluster": "c"}}]}]""", "invalid regex \"a(?=b)\"")]
    [InlineData("""[{"name": "a", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [{"name": "c", "weight": 60}], "total_weight": 100}}}]}]""", "sum of weights (60) must equal total_weight (100)")]
    [InlineData("""[{"name": "a", "domains": ["*"], "routes": [{"match": {"prefix": "/"}}]}]""", "a route needs an action")]
    [InlineData("""[{"name": "a", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "c"}, "request_headers_to_add": [{"header": {"key": "host", "value": "x"}}]}]}]""", "\"host\" cannot be modified")]
    public async Task Compile_InvalidRouteConfig_ErrorNamesResourceAndField(string virtualHosts, string expected)
    {
        await using var proxy = await TestProxy.StartExplicitAsync();

        var result = proxy.TryApply([XdsConfig.HttpListener(80, "80")], [XdsConfig.Routes("80", virtualHosts)], [XdsConfig.StaticCluster("c", [1])]);

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Contains(expected, StringComparison.Ordinal) && e.StartsWith("route_configuration \"80\"", StringComparison.Ordinal));
        Assert.False(proxy.Host.Store.Current.Routes.ContainsKey("80")); // nothing was applied
    }

    [Fact]
    public async Task Compile_ValidateClustersAndUnknownCluster_Rejected()
    {
        await using var proxy = await TestProxy.StartExplicitAsync();

        var result = proxy.TryApply(
            [XdsConfig.HttpListener(80, "80")],
            [XdsConfig.Routes("80", """[{"name": "a", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "ghost"}}]}]""", """, "validate_clusters": true""")]);

        Assert.Contains(result.Errors, e => e.Contains("unknown cluster \"ghost\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Compile_RouterNotLast_Rejected()
    {
        await using var proxy = await TestProxy.StartExplicitAsync();
        var listener = XdsConfig.HttpListener(80, "80", extraFilters: XdsConfig.RouterFilter + ", " + """{"name": "envoy.filters.http.fault", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"}}""");

        var result = proxy.TryApply([listener], [XdsConfig.CatchAll("80", "c")], [XdsConfig.StaticCluster("c", [1])]);

        Assert.Contains(result.Errors, e => e.Contains("comes after the router", StringComparison.Ordinal));
    }

    [Fact]
    public void Bootstrap_AdsConfigWithEnvoyGrpcCluster_ResolvesControlPlaneAddress()
    {
        var bootstrap = BootstrapLoader.Parse("""
            {
              "node": {"id": "sidecar~198.18.0.5~reviews-v1.default~default.svc.cluster.local", "cluster": "reviews"},
              "dynamic_resources": {
                "ads_config": {"api_type": "GRPC", "transport_api_version": "V3", "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}]},
                "cds_config": {"ads": {}}, "lds_config": {"ads": {}}
              },
              "static_resources": {"clusters": [{"name": "xds-grpc", "type": "STATIC", "connect_timeout": "1s",
                "load_assignment": {"cluster_name": "xds-grpc", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 15010}}}}]}]}}]},
              "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 15000}}}
            }
            """);

        Assert.Equal(new Uri("http://127.0.0.1:15010"), bootstrap.AdsAddress);
        Assert.Equal("reviews", bootstrap.Node.Cluster);
        Assert.Equal(15000, bootstrap.AdminAddress!.Port);
    }

    [Theory]
    [InlineData("""{"layered_runtime": {}}""", "layered_runtime: unknown field")]
    [InlineData("""{"static_resources": {"clusters": [{"name": "c", "conect_timeout": "1s"}]}}""", "static_resources.clusters[0]")]
    [InlineData("""{"dynamic_resources": {"ads_config": {"api_type": "REST", "grpc_services": []}}}""", "dynamic_resources.ads_config.api_type")]
    [InlineData("""{"static_resources": {"listeners": {}}}""", "static_resources.listeners: expected array")]
    public void Bootstrap_Invalid_ErrorNamesTheField(string json, string expected)
    {
        var e = Assert.Throws<BootstrapException>(() => BootstrapLoader.Parse(json, "bootstrap.json"));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("bootstrap.json: ", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData((long)ResponseFlags.None, "-")]
    [InlineData((long)ResponseFlags.UpstreamConnectionFailure, "UF")]
    [InlineData((long)(ResponseFlags.UpstreamConnectionFailure | ResponseFlags.UpstreamRetryLimitExceeded), "UF,URX")]
    [InlineData((long)(ResponseFlags.NoHealthyUpstream | ResponseFlags.DelayInjected | ResponseFlags.DownstreamConnectionTermination), "UH,DI,DC")]
    public void ResponseFlags_Format_AsEnvoyPrintsThem(long value, string expected)
    {
        var flags = (ResponseFlags)value;
        Assert.Equal(expected, ResponseFlagsFormatter.Format(flags));
        Assert.Equal(flags, ResponseFlagsFormatter.Parse(expected));
    }

    [Theory]
    [InlineData("--outbound-port 0 --bogus", "unknown option --bogus")]
    [InlineData("--inbound-port 70000", "--inbound-port: \"70000\" is not a port")]
    [InlineData("--mode sideways", "--mode: \"sideways\" is not transparent or explicit")]
    [InlineData("--drain-duration 5", "--drain-duration: \"5\" has an unknown unit")]
    public void CommandLine_Invalid_ErrorNamesOption(string args, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => ProxyOptions.Parse(args.Split(' ')));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CommandLine_AllOptions_Parsed()
    {
        var o = ProxyOptions.Parse(["--outbound-port", "1", "--inbound-port", "2", "--admin-port", "3", "--stats-port", "4", "--health-port", "5",
            "--mode", "explicit", "--drain-duration", "1m30s", "--app-port", "8080", "--opaque-ports", "3306,6379", "--node-id", "n", "--xds-address", "http://cp:15010"]);

        Assert.Equal((1, 2, 3, 4, 5), (o.OutboundPort, o.InboundPort, o.AdminPort, o.StatsPort, o.HealthPort));
        Assert.Equal(CaptureMode.Explicit, o.Mode);
        Assert.Equal(TimeSpan.FromSeconds(90), o.DrainDuration);
        Assert.True(o.OpaquePorts.SetEquals([3306, 6379]));
    }
}
