using System.Text.Json;
using Spectre.Console;

namespace Skein.Cli.Output;

/// <summary>`proxy-config routes`: matches, actions, timeouts, retries, mirrors, hashing, faults, limits and CORS per route.</summary>
internal static partial class ProxyConfigTables
{
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
}
