using System.Text.Json;
using Spectre.Console;

namespace Skein.Cli.Output;

/// <summary>
/// Summarises xDS JSON (as Google.Protobuf formats it: lowerCamelCase) into one table per type, with
/// the traffic settings a user checks: weights, timeouts, retries, faults, limits, breakers, ejection.
/// </summary>
internal static class ProxyConfigTables
{
    public static Table For(string kind, JsonElement resources) => kind switch
    {
        "listeners" => Listeners(resources),
        "routes" => Routes(resources),
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

    private static Table Routes(JsonElement resources)
    {
        var table = new Table().AddColumns("ROUTES", "VIRTUAL HOST", "MATCH", "ACTION", "TIMEOUT", "RETRIES", "FAULT / LIMIT");
        foreach (var config in resources.EnumerateArray())
        {
            foreach (var vhost in Array(config, "virtualHosts"))
            {
                foreach (var route in Array(vhost, "routes"))
                {
                    var action = Path(route, "route");
                    table.AddRow(Esc(Str(config, "name")), Esc(Str(vhost, "name")), Esc(Match(route)), Esc(Action(route)),
                        Esc(action is { } a ? Str(a, "timeout") : ""), Esc(action is { } r ? Retries(r) : ""), Esc(Faults(route)));
                }
            }
        }

        return table;
    }

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

    private static string Retries(JsonElement action) =>
        Path(action, "retryPolicy") is { } retry
            ? $"{Str(retry, "numRetries")} × {Str(retry, "retryOn")}{(Str(retry, "perTryTimeout") is { Length: > 0 } t ? $" per try {t}" : "")}"
            : "";

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
        Path(fault, "percentage") is { } p ? $"{Str(p, "numerator")}/{Str(p, "denominator")}" : "";

    private static Table Clusters(JsonElement resources)
    {
        var table = new Table().AddColumns("NAME", "TYPE", "LB", "CONNECT TIMEOUT", "CIRCUIT BREAKERS", "OUTLIER DETECTION", "TLS");
        foreach (var cluster in resources.EnumerateArray())
        {
            var breakers = Path(cluster, "circuitBreakers") is { } cb && Array(cb, "thresholds").FirstOrDefault() is { ValueKind: JsonValueKind.Object } t
                ? string.Join(" ", t.EnumerateObject().Where(p => p.Name != "priority").Select(p => $"{p.Name}={p.Value}"))
                : "";
            var outlier = Path(cluster, "outlierDetection") is { } od ? string.Join(" ", od.EnumerateObject().Select(p => $"{p.Name}={p.Value}")) : "";
            var tls = Path(cluster, "transportSocket") is { } ts ? Str(ts, "name") : "";
            table.AddRow(Esc(Str(cluster, "name")), Esc(Str(cluster, "type")), Esc(Str(cluster, "lbPolicy")), Esc(Str(cluster, "connectTimeout")), Esc(breakers), Esc(outlier), Esc(tls));
        }

        return table;
    }

    private static Table Endpoints(JsonElement resources)
    {
        var table = new Table().AddColumns("CLUSTER", "ENDPOINT", "HEALTH", "WEIGHT", "LOCALITY");
        foreach (var assignment in resources.EnumerateArray())
        {
            foreach (var locality in Array(assignment, "endpoints"))
            {
                var where = Path(locality, "locality") is { } l ? string.Join("/", l.EnumerateObject().Select(p => p.Value.GetString())) : "";
                foreach (var lb in Array(locality, "lbEndpoints"))
                {
                    var sa = Path(lb, "endpoint", "address", "socketAddress");
                    table.AddRow(Esc(Str(assignment, "clusterName")), Esc(sa is { } s ? $"{Str(s, "address")}:{Str(s, "portValue")}" : ""),
                        Esc(Str(lb, "healthStatus") is { Length: > 0 } h ? h : "UNKNOWN"), Esc(Str(lb, "loadBalancingWeight")), Esc(where));
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
