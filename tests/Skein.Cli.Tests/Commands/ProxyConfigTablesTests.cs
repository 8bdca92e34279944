using System.Text.Json;
using Skein.Cli.Output;

namespace Skein.Cli.Tests.Commands;

/// <summary>`skein proxy-config routes|clusters|endpoints` summaries show the traffic settings a proxy holds.</summary>
public sealed class ProxyConfigTablesTests
{
    [Fact]
    public void Routes_ShowTimeoutRetriesMirrorHashAndCors()
    {
        var text = Render("routes", """
            [{"name": "9080", "virtualHosts": [{"name": "reviews:9080", "retryPolicy": {"retryOn": "5xx", "numRetries": 1},
              "routes": [
                {"match": {"prefix": "/"}, "route": {"cluster": "outbound|9080||reviews", "timeout": "2s",
                  "retryPolicy": {"retryOn": "5xx,gateway-error", "numRetries": 3, "perTryTimeout": "0.5s", "retriableStatusCodes": [503],
                    "retryBackOff": {"baseInterval": "0.025s"},
                    "retryHostPredicate": [{"name": "envoy.retry_host_predicates.previous_hosts"}]},
                  "requestMirrorPolicies": [{"cluster": "outbound|9080|v2|reviews", "runtimeFraction": {"defaultValue": {"numerator": 25}}}],
                  "hashPolicy": [{"cookie": {"name": "session", "ttl": "3600s"}}],
                  "cors": {"allowOriginStringMatch": [{"exact": "https://shop.example"}], "allowMethods": "GET,POST"}}},
                {"match": {"prefix": "/other"}, "route": {"cluster": "outbound|9080||reviews", "timeout": "0s"}}]}]}]
            """);

        Assert.Contains("3 × 5xx,gateway-error [503] per try 0.5s back-off 0.025s other hosts", text, StringComparison.Ordinal);
        Assert.Contains("mirror outbound|9080|v2|reviews 25%; hash cookie session ttl 3600s", text, StringComparison.Ordinal);
        Assert.Contains("cors https://shop.example methods GET,POST", text, StringComparison.Ordinal);
        Assert.Contains("(host) 1 × 5xx", text, StringComparison.Ordinal);
        Assert.Contains("none", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Routes_ShowFaultsAndRateLimitAsPercentagesAndBuckets()
    {
        var text = Render("routes", """
            [{"name": "9080", "virtualHosts": [{"name": "ratings:9080", "routes": [
              {"match": {"prefix": "/"}, "route": {"cluster": "outbound|9080||ratings"},
               "typedPerFilterConfig": {
                 "envoy.filters.http.fault": {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
                   "delay": {"fixedDelay": "2s", "percentage": {"numerator": 50}},
                   "abort": {"httpStatus": 503, "percentage": {"numerator": 2500, "denominator": "TEN_THOUSAND"}}},
                 "envoy.filters.http.local_ratelimit": {"@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                   "tokenBucket": {"maxTokens": 20, "tokensPerFill": 10, "fillInterval": "1s"}}}}]}]}]
            """);

        Assert.Contains("delay 2s 50%", text, StringComparison.Ordinal);
        Assert.Contains("abort 503 25%", text, StringComparison.Ordinal);
        Assert.Contains("rate 10/1s burst 20", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Clusters_ShowBreakersPoolOutlierDetectionAndPanic()
    {
        var text = Render("clusters", """
            [{"name": "outbound|9080||catalog", "type": "EDS", "lbPolicy": "LEAST_REQUEST", "connectTimeout": "10s",
              "circuitBreakers": {"thresholds": [{"maxConnections": 1, "maxPendingRequests": 1, "maxRequests": 4294967295, "maxRetries": 4294967295,
                "retryBudget": {"budgetPercent": {"value": 20}, "minRetryConcurrency": 3}}]},
              "typedExtensionProtocolOptions": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "commonHttpProtocolOptions": {"idleTimeout": "30s", "maxRequestsPerConnection": 1}, "explicitHttpConfig": {"httpProtocolOptions": {}}}},
              "outlierDetection": {"consecutive5xx": 5, "interval": "1s", "baseEjectionTime": "30s", "maxEjectionPercent": 100,
                "enforcingConsecutiveGatewayFailure": 100, "consecutiveGatewayFailure": 2},
              "commonLbConfig": {"healthyPanicThreshold": {}, "localityWeightedLbConfig": {}}}]
            """);

        Assert.Contains("LEAST_REQUEST locality-weighted panic<0%", text, StringComparison.Ordinal);
        Assert.Contains("connections=1 pending=1 requests=max retries=max retry budget=20% min 3", text, StringComparison.Ordinal);
        Assert.Contains("http/1.1 idle 30s 1 req/conn", text, StringComparison.Ordinal);
        Assert.Contains("5xx×5 gateway×2 every 1s eject 30s (max 300s) ≤100%", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Endpoints_ShowPriority()
    {
        var text = Render("endpoints", """
            [{"clusterName": "c", "endpoints": [{"locality": {"region": "us"}, "priority": 1, "lbEndpoints": [
              {"endpoint": {"address": {"socketAddress": {"address": "10.0.0.1", "portValue": 9080}}}, "healthStatus": "HEALTHY"}]}]}]
            """);

        Assert.Contains("PRIORITY", text, StringComparison.Ordinal);
        Assert.Matches(@"10\.0\.0\.1:9080.*HEALTHY.*us.*1", text);
    }

    [Fact]
    public void Routes_IncludeInboundRouteConfigsInlineInListeners()
    {
        var text = Render("routes", "[]", """
            [{"name": "virtualInbound", "filterChains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
              "typedConfig": {"routeConfig": {"name": "inbound|9080||", "virtualHosts": [{"name": "inbound|http|9080", "routes": [
                {"match": {"prefix": "/"}, "route": {"cluster": "inbound|9080||"},
                 "typedPerFilterConfig": {"envoy.filters.http.local_ratelimit": {"tokenBucket": {"maxTokens": 20, "tokensPerFill": 10, "fillInterval": "1s"}}}}]}]}}}]}]}]
            """);

        Assert.Contains("inbound|9080||", text, StringComparison.Ordinal);
        Assert.Contains("rate 10/1s burst 20", text, StringComparison.Ordinal);
    }

    private static string Render(string kind, string json, string? listeners = null)
    {
        using var doc = JsonDocument.Parse(json);
        using var inline = listeners is null ? null : JsonDocument.Parse(listeners);
        using var writer = new StringWriter();
        Terminal.Create(writer).Write(ProxyConfigTables.For(kind, doc.RootElement, inline?.RootElement));
        return writer.ToString();
    }
}
