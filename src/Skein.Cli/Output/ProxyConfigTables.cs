using System.Text.Json;
using Spectre.Console;

namespace Skein.Cli.Output;

/// <summary>
/// Summarises xDS JSON (as Google.Protobuf formats it: lowerCamelCase) into one table per type, with
/// the traffic settings a user checks: weights, timeouts, retries, faults, limits, breakers, ejection.
/// </summary>
internal static class ProxyConfigTables
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

    /// <summary>The route configs that listeners carry inline in their HTTP connection managers.</summary>
    private static IEnumerable<JsonElement> InlineRouteConfigs(JsonElement listeners)
    {
        foreach (var listener in listeners.EnumerateArray())
        {
            var chains = Array(listener, "filterChains").ToList();
            if (Path(listener, "defaultFilterChain") is { } fallback)
            {
                chains.Add(fallback);
            }

            foreach (var chain in chains)
            {
                foreach (var filter in Array(chain, "filters"))
                {
                    if (Path(filter, "typedConfig", "routeConfig") is { } inline)
                    {
                        yield return inline;
                    }
                }
            }
        }
    }

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

    private static Table Routes(IEnumerable<JsonElement> configs)
    {
        var table = new Table().AddColumns("ROUTES", "VIRTUAL HOST", "MATCH", "ACTION", "TIMEOUT", "RETRIES", "MIRROR / HASH", "FAULT / LIMIT / CORS");
        foreach (var config in configs)
        {
            foreach (var vhost in Array(config, "virtualHosts"))
            {
                foreach (var route in Array(vhost, "routes"))
                {
                    var action = Path(route, "route");
                    table.AddRow(Esc(Str(config, "name")), Esc(Str(vhost, "name")), Esc(Match(route)), Esc(Action(route)),
                        Esc(action is { } a ? Timeout(a) : ""), Esc(action is { } r ? Retries(r, vhost) : ""), Esc(action is { } m ? MirrorAndHash(m) : ""),
                        Esc(string.Join("; ", new[] { Faults(route), Cors(action, vhost) }.Where(x => x.Length > 0))));
                }
            }
        }

        return table;
    }

    /// <summary>The route timeout ("none" for 0s, Envoy's 15s when unset).</summary>
    private static string Timeout(JsonElement action) => Str(action, "timeout") switch
    {
        "" => "15s",
        "0s" => "none",
        var t => t,
    };

    private static string Match(JsonElement route)
    {
        var m = Path(route, "match");
        if (m is null)
        {
            return "";
        }

        var parts = new List<string>();
        foreach (var (key, label) in new[] { ("prefix", "prefix"), ("path", "path"), ("pathSeparatedPrefix", "prefix") })
        {
            if (Str(m.Value, key) is { Length: > 0 } v)
            {
                parts.Add($"{label} {v}");
            }
        }

        if (Path(m.Value, "safeRegex") is { } regex)
        {
            parts.Add($"regex {Str(regex, "regex")}");
        }

        foreach (var header in Array(m.Value, "headers"))
        {
            var value = Path(header, "stringMatch") is { } sm ? string.Join("", sm.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String).Select(p => $"{p.Name}={p.Value.GetString()}"))
                : header.TryGetProperty("presentMatch", out _) ? "present" : "";
            parts.Add($"{(header.TryGetProperty("invertMatch", out var inv) && inv.GetBoolean() ? "!" : "")}{Str(header, "name")}:{value}");
        }

        foreach (var query in Array(m.Value, "queryParameters"))
        {
            parts.Add($"?{Str(query, "name")}");
        }

        return string.Join(" ", parts);
    }

    private static string Action(JsonElement route)
    {
        if (Path(route, "route") is { } action)
        {
            if (Str(action, "cluster") is { Length: > 0 } cluster)
            {
                return cluster;
            }

            if (Path(action, "weightedClusters") is { } weighted)
            {
                return string.Join(", ", Array(weighted, "clusters").Select(c => $"{Str(c, "name")} {Str(c, "weight")}%"));
            }
        }

        if (Path(route, "redirect") is { } redirect)
        {
            return "redirect " + string.Join(" ", redirect.EnumerateObject().Select(p => $"{p.Name}={p.Value}"));
        }

        return Path(route, "directResponse") is { } direct ? $"direct {Str(direct, "status")}" : "";
    }

    /// <summary>The route's retry policy, else the virtual host's: count, conditions, codes, per-try timeout, back-off, host predicate.</summary>
    private static string Retries(JsonElement action, JsonElement vhost)
    {
        var fromHost = Path(action, "retryPolicy") is null;
        if ((Path(action, "retryPolicy") ?? Path(vhost, "retryPolicy")) is not { } retry)
        {
            return "";
        }

        var parts = new List<string> { $"{(Str(retry, "numRetries") is { Length: > 0 } n ? n : "1")} × {Str(retry, "retryOn")}" };
        if (Array(retry, "retriableStatusCodes") is { Count: > 0 } codes)
        {
            parts.Add("[" + string.Join(",", codes.Select(c => c.ToString())) + "]");
        }

        if (Str(retry, "perTryTimeout") is { Length: > 0 } perTry)
        {
            parts.Add($"per try {perTry}");
        }

        if (Path(retry, "retryBackOff") is { } backOff)
        {
            parts.Add($"back-off {Str(backOff, "baseInterval")}{(Str(backOff, "maxInterval") is { Length: > 0 } max ? "-" + max : "")}");
        }

        if (Array(retry, "retryHostPredicate").Any(p => Str(p, "name").EndsWith("previous_hosts", StringComparison.Ordinal)))
        {
            parts.Add("other hosts");
        }

        return (fromHost ? "(host) " : "") + string.Join(" ", parts);
    }

    /// <summary>Mirror clusters with their share, and the consistent-hash policy.</summary>
    private static string MirrorAndHash(JsonElement action)
    {
        var parts = new List<string>();
        foreach (var m in Array(action, "requestMirrorPolicies"))
        {
            parts.Add($"mirror {Str(m, "cluster")} {(Path(m, "runtimeFraction", "defaultValue") is { } f ? Fraction(f) : "100%")}");
        }

        foreach (var h in Array(action, "hashPolicy"))
        {
            parts.Add(h switch
            {
                _ when Path(h, "header") is { } header => $"hash header {Str(header, "headerName")}",
                _ when Path(h, "cookie") is { } cookie => $"hash cookie {Str(cookie, "name")}{(Str(cookie, "ttl") is { Length: > 0 } ttl ? $" ttl {ttl}" : "")}",
                _ when Path(h, "connectionProperties") is not null => "hash source-ip",
                _ when Path(h, "queryParameter") is { } query => $"hash query {Str(query, "name")}",
                _ => "hash",
            });
        }

        return string.Join("; ", parts);
    }

    /// <summary>A route's CORS policy (or its virtual host's): allowed origins and methods.</summary>
    private static string Cors(JsonElement? action, JsonElement vhost)
    {
        if (((action is { } a ? Path(a, "cors") : null) ?? Path(vhost, "cors")) is not { } cors)
        {
            return "";
        }

        var origins = Array(cors, "allowOriginStringMatch").Select(o => string.Join("", o.EnumerateObject().Select(p => p.Name == "exact" ? p.Value.ToString() : $"{p.Name}:{p.Value}")));
        return $"cors {string.Join(",", origins)}{(Str(cors, "allowMethods") is { Length: > 0 } methods ? $" methods {methods}" : "")}";
    }

    private static string Fraction(JsonElement fraction)
    {
        var numerator = double.TryParse(Str(fraction, "numerator"), System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 0;
        var denominator = Str(fraction, "denominator") switch { "TEN_THOUSAND" => 10_000.0, "MILLION" => 1_000_000.0, _ => 100.0 };
        return (numerator * 100 / denominator).ToString("0.####", System.Globalization.CultureInfo.InvariantCulture) + "%";
    }

    private static string Faults(JsonElement route)
    {
        if (Path(route, "typedPerFilterConfig") is not { } perFilter)
        {
            return "";
        }

        var parts = new List<string>();
        foreach (var filter in perFilter.EnumerateObject())
        {
            var c = filter.Value;
            if (Path(c, "delay") is { } delay)
            {
                parts.Add($"delay {Str(delay, "fixedDelay")} {Percent(delay)}");
            }

            if (Path(c, "abort") is { } abort)
            {
                parts.Add($"abort {Str(abort, "httpStatus")}{Str(abort, "grpcStatus")} {Percent(abort)}");
            }

            if (Path(c, "tokenBucket") is { } bucket)
            {
                parts.Add($"rate {Str(bucket, "tokensPerFill")}/{Str(bucket, "fillInterval")} burst {Str(bucket, "maxTokens")}");
            }
        }

        return string.Join("; ", parts);
    }

    private static string Percent(JsonElement fault) =>
        Path(fault, "percentage") is { } p ? Fraction(p) : "100%";

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
