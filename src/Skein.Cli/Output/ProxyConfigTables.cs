using System.Text.Json;
using Spectre.Console;

namespace Skein.Cli.Output;

/// <summary>
/// Summarises xDS JSON (as Google.Protobuf formats it: lowerCamelCase) into one table per type, with
/// the traffic settings a user checks: weights, timeouts, retries, faults, limits, breakers, ejection.
/// </summary>
internal static partial class ProxyConfigTables
{
    /// <param name="listeners">With <c>routes</c>: the proxy's listeners, whose inline route configs (the inbound
    /// side, where rate limits live) are listed after the RDS ones, as <c>istioctl proxy-config routes</c> does.</param>
    public static Table For(string kind, JsonElement resources, JsonElement? listeners = null) => kind switch
    {
        "listeners" => Listeners(resources),
        "routes" => Routes(listeners is { } l ? resources.EnumerateArray().Concat(InlineRouteConfigs(l)) : resources.EnumerateArray()),
        "clusters" => Clusters(resources),
        _ => Endpoints(resources),
    };

    private static Table Listeners(JsonElement resources)
    {
        var table = new Table().AddColumns("NAME", "ADDRESS", "MATCH", "FILTERS");
        foreach (var listener in resources.EnumerateArray())
        {
            var address = Path(listener, "address", "socketAddress") is { } sa ? $"{Str(sa, "address")}:{Str(sa, "portValue")}" : "";
            foreach (var chain in Array(listener, "filterChains").Concat(Path(listener, "defaultFilterChain") is { } d ? [d] : []))
            {
                var match = Path(chain, "filterChainMatch") is { } m
                    ? string.Join(" ", new[] { Str(m, "destinationPort") is { Length: > 0 } p ? $"port={p}" : "", Str(m, "transportProtocol") is { Length: > 0 } t ? $"transport={t}" : "" }.Where(s => s.Length > 0))
                    : "";
                var filters = string.Join(", ", Array(chain, "filters").Select(Filter));
                table.AddRow(Esc(Str(listener, "name")), Esc(address), Esc(match.Length == 0 ? "(default)" : match), Esc(filters));
            }
        }

        return table;
    }

    private static string Filter(JsonElement filter)
    {
        var config = Path(filter, "typedConfig");
        if (config is null)
        {
            return Str(filter, "name");
        }

        if (Path(config.Value, "rds") is { } rds)
        {
            return $"http → routes {Str(rds, "routeConfigName")}";
        }

        if (Path(config.Value, "routeConfig") is { } inline)
        {
            return $"http → routes {Str(inline, "name")} (inline)";
        }

        return Str(config.Value, "cluster") is { Length: > 0 } cluster ? $"tcp → {cluster}" : Str(filter, "name");
    }

    private static Table Clusters(JsonElement resources)
    {
        var table = new Table().AddColumns("NAME", "TYPE", "LB", "CONNECT TIMEOUT", "CIRCUIT BREAKERS", "CONNECTION POOL", "OUTLIER DETECTION", "TLS");
        foreach (var cluster in resources.EnumerateArray())
        {
            var tls = Path(cluster, "transportSocket") is { } ts ? Str(ts, "name") : "";
            table.AddRow(Esc(Str(cluster, "name")), Esc(Str(cluster, "type")), Esc(Lb(cluster)), Esc(Str(cluster, "connectTimeout")),
                Esc(Breakers(cluster)), Esc(Pool(cluster)), Esc(Outlier(cluster)), Esc(tls));
        }

        return table;
    }

    /// <summary>The policy, with locality weighting and the panic threshold when set.</summary>
    private static string Lb(JsonElement cluster)
    {
        var lb = Str(cluster, "lbPolicy") is { Length: > 0 } p ? p : "ROUND_ROBIN";
        if (Path(cluster, "commonLbConfig") is { } common)
        {
            if (Path(common, "localityWeightedLbConfig") is not null)
            {
                lb += " locality-weighted";
            }

            if (Path(common, "healthyPanicThreshold") is { } panic)
            {
                lb += $" panic<{(Str(panic, "value") is { Length: > 0 } v ? v : "0")}%";
            }
        }

        return lb;
    }

    private static string Breakers(JsonElement cluster)
    {
        if (Path(cluster, "circuitBreakers") is not { } cb || Array(cb, "thresholds").FirstOrDefault() is not { ValueKind: JsonValueKind.Object } t)
        {
            return "";
        }

        static string Limit(JsonElement t, string name) => Str(t, name) switch { "" => "", "4294967295" => "max", var v => v };
        var parts = new List<string>();
        foreach (var (name, label) in new[] { ("maxConnections", "connections"), ("maxPendingRequests", "pending"), ("maxRequests", "requests"), ("maxRetries", "retries") })
        {
            if (Limit(t, name) is { Length: > 0 } v)
            {
                parts.Add($"{label}={v}");
            }
        }

        if (Path(t, "retryBudget") is { } budget)
        {
            parts.Add($"retry budget={(Path(budget, "budgetPercent") is { } bp ? Str(bp, "value") : "20")}% min {(Str(budget, "minRetryConcurrency") is { Length: > 0 } m ? m : "3")}");
        }

        return string.Join(" ", parts);
    }

    /// <summary>The upstream HTTP protocol options: protocol, idle timeout, requests per connection, connection lifetime.</summary>
    private static string Pool(JsonElement cluster)
    {
        if (Path(cluster, "typedExtensionProtocolOptions") is not { } options)
        {
            return "";
        }

        var parts = new List<string>();
        foreach (var option in options.EnumerateObject())
        {
            var o = option.Value;
            if (Path(o, "explicitHttpConfig") is { } explicitConfig)
            {
                parts.Add(Path(explicitConfig, "http2ProtocolOptions") is not null ? "h2" : "http/1.1");
            }
            else if (Path(o, "useDownstreamProtocolConfig") is not null)
            {
                parts.Add("downstream protocol");
            }

            if (Path(o, "commonHttpProtocolOptions") is { } common)
            {
                if (Str(common, "idleTimeout") is { Length: > 0 } idle)
                {
                    parts.Add($"idle {idle}");
                }

                if (Str(common, "maxRequestsPerConnection") is { Length: > 0 } perConnection)
                {
                    parts.Add($"{perConnection} req/conn");
                }

                if (Str(common, "maxConnectionDuration") is { Length: > 0 } duration)
                {
                    parts.Add($"lifetime {duration}");
                }
            }
        }

        return string.Join(" ", parts);
    }

    /// <summary>Ejection triggers (consecutive 5xx, gateway and local origin failures), interval, ejection time, max percent.</summary>
    private static string Outlier(JsonElement cluster)
    {
        if (Path(cluster, "outlierDetection") is not { } od)
        {
            return "";
        }

        string Or(string name, string fallback) => Str(od, name) is { Length: > 0 } v ? v : fallback;
        var parts = new List<string> { $"5xx×{Or("consecutive5xx", "5")}" };
        if (Or("enforcingConsecutiveGatewayFailure", "0") != "0")
        {
            parts.Add($"gateway×{Or("consecutiveGatewayFailure", "5")}");
        }

        if (Or("splitExternalLocalOriginErrors", "false") == "true")
        {
            parts.Add($"local×{Or("consecutiveLocalOriginFailure", "5")}");
        }

        parts.Add($"every {Or("interval", "10s")}");
        parts.Add($"eject {Or("baseEjectionTime", "30s")} (max {Or("maxEjectionTime", "300s")})");
        parts.Add($"≤{Or("maxEjectionPercent", "10")}%");
        return string.Join(" ", parts);
    }

    private static Table Endpoints(JsonElement resources)
    {
        var table = new Table().AddColumns("CLUSTER", "ENDPOINT", "HEALTH", "WEIGHT", "LOCALITY", "PRIORITY");
        foreach (var assignment in resources.EnumerateArray())
        {
            foreach (var locality in Array(assignment, "endpoints"))
            {
                var where = Path(locality, "locality") is { } l ? string.Join("/", l.EnumerateObject().Select(p => p.Value.GetString())) : "";
                foreach (var lb in Array(locality, "lbEndpoints"))
                {
                    var sa = Path(lb, "endpoint", "address", "socketAddress");
                    table.AddRow(Esc(Str(assignment, "clusterName")), Esc(sa is { } s ? $"{Str(s, "address")}:{Str(s, "portValue")}" : ""),
                        Esc(Str(lb, "healthStatus") is { Length: > 0 } h ? h : "UNKNOWN"), Esc(Str(lb, "loadBalancingWeight")), Esc(where),
                        Esc(Str(locality, "priority") is { Length: > 0 } p ? p : "0"));
                }
            }
        }

        return table;
    }

    private static JsonElement? Path(JsonElement element, params string[] names)
    {
        foreach (var name in names)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element))
            {
                return null;
            }
        }

        return element;
    }

    private static List<JsonElement> Array(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var list) && list.ValueKind == JsonValueKind.Array ? [.. list.EnumerateArray()] : [];

    private static string Str(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var v) ? v.ValueKind == JsonValueKind.String ? v.GetString()! : v.ToString() : "";

    private static string Esc(string text) => Markup.Escape(text);
}
