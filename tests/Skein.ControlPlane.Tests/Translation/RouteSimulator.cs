using System.Text.RegularExpressions;
using Skein.ControlPlane.Translation;
using Skein.Xds.Envoy.Config.Route.V3;
using Skein.Xds.Envoy.Type.Matcher.V3;

namespace Skein.ControlPlane.Tests.Translation;

/// <summary>A request as a sidecar's outbound listener sees it.</summary>
internal sealed record SimRequest(string Authority, string Path, string Method = "GET", IReadOnlyDictionary<string, string>? Headers = null, string Scheme = "http");

/// <summary>Where a request went: the virtual host, the route and its action.</summary>
internal sealed record SimResult(string? VirtualHost, Route? Route)
{
    /// <summary>The single cluster, or the weighted clusters as "name=weight".</summary>
    public IReadOnlyList<string> Clusters => Route?.Route_ switch
    {
        { Cluster: { Length: > 0 } c } => [c],
        { WeightedClusters: { } w } => [.. w.Clusters.Select(c => $"{c.Name}={c.Weight}")],
        _ => [],
    };

    public string Cluster => Assert.Single(Clusters);
}

/// <summary>
/// Evaluates generated RDS the way Envoy does (Istio's simulation tests, pilot/pkg/simulation): virtual host by
/// domain (exact, then longest suffix wildcard, longest prefix wildcard, then "*"), then the first route whose
/// path, header and query matchers all hold. Enough to assert "this call reaches that cluster".
/// </summary>
internal static class RouteSimulator
{
    public static SimResult Outbound(ProxyResources resources, int port, SimRequest request)
    {
        var name = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(resources.Routes.ByName.TryGetValue(name, out var rc), $"no route configuration {name}");
        return Evaluate((RouteConfiguration)rc.Message, request);
    }

    public static SimResult Evaluate(RouteConfiguration config, SimRequest request)
    {
        var host = request.Authority;
        var vh = config.VirtualHosts.FirstOrDefault(v => v.Domains.Any(d => string.Equals(d, host, StringComparison.OrdinalIgnoreCase)))
            ?? config.VirtualHosts
                .SelectMany(v => v.Domains.Where(d => d.StartsWith('*') && d.Length > 1 && host.EndsWith(d[1..], StringComparison.OrdinalIgnoreCase)).Select(d => (v, d.Length)))
                .OrderByDescending(x => x.Length).Select(x => x.v).FirstOrDefault()
            ?? config.VirtualHosts
                .SelectMany(v => v.Domains.Where(d => d.EndsWith('*') && d.Length > 1 && host.StartsWith(d[..^1], StringComparison.OrdinalIgnoreCase)).Select(d => (v, d.Length)))
                .OrderByDescending(x => x.Length).Select(x => x.v).FirstOrDefault()
            ?? config.VirtualHosts.FirstOrDefault(v => v.Domains.Contains("*"));
        if (vh is null)
        {
            return new SimResult(null, null);
        }

        foreach (var route in vh.Routes)
        {
            if (Matches(route.Match, request))
            {
                return new SimResult(vh.Name, route);
            }
        }

        return new SimResult(vh.Name, null);
    }

    private static bool Matches(RouteMatch match, SimRequest request)
    {
        var queryAt = request.Path.IndexOf('?', StringComparison.Ordinal);
        var path = queryAt < 0 ? request.Path : request.Path[..queryAt];
        var comparison = match.CaseSensitive == false ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        var pathOk = match.PathSpecifierCase switch
        {
            RouteMatch.PathSpecifierOneofCase.Prefix => path.StartsWith(match.Prefix, comparison),
            RouteMatch.PathSpecifierOneofCase.Path => string.Equals(path, match.Path, comparison),
            RouteMatch.PathSpecifierOneofCase.SafeRegex => Regex.IsMatch(path, "^(?:" + match.SafeRegex.Regex + ")$"),
            _ => false,
        };
        if (!pathOk)
        {
            return false;
        }

        foreach (var h in match.Headers)
        {
            var value = Header(request, h.Name);
            bool ok = h.HeaderMatchSpecifierCase switch
            {
                HeaderMatcher.HeaderMatchSpecifierOneofCase.PresentMatch => (value is not null) == h.PresentMatch,
                HeaderMatcher.HeaderMatchSpecifierOneofCase.StringMatch => value is not null && StringMatches(h.StringMatch, value),
                HeaderMatcher.HeaderMatchSpecifierOneofCase.ExactMatch => value == h.ExactMatch,
                HeaderMatcher.HeaderMatchSpecifierOneofCase.PrefixMatch => value?.StartsWith(h.PrefixMatch, StringComparison.Ordinal) == true,
                _ => throw new NotSupportedException(h.HeaderMatchSpecifierCase.ToString()),
            };
            if (ok == h.InvertMatch)
            {
                return false;
            }
        }

        var query = queryAt < 0 ? new Dictionary<string, string>() : request.Path[(queryAt + 1)..]
            .Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
        foreach (var q in match.QueryParameters)
        {
            var present = query.TryGetValue(q.Name, out var value);
            var ok = q.QueryParameterMatchSpecifierCase == QueryParameterMatcher.QueryParameterMatchSpecifierOneofCase.StringMatch
                ? present && StringMatches(q.StringMatch, value!)
                : present;
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    private static string? Header(SimRequest request, string name) => name switch
    {
        ":method" => request.Method,
        ":authority" => request.Authority,
        ":path" => request.Path,
        ":scheme" => request.Scheme,
        _ => request.Headers?.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value,
    };

    private static bool StringMatches(StringMatcher m, string value)
    {
        var comparison = m.IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return m.MatchPatternCase switch
        {
            StringMatcher.MatchPatternOneofCase.Exact => string.Equals(value, m.Exact, comparison),
            StringMatcher.MatchPatternOneofCase.Prefix => value.StartsWith(m.Prefix, comparison),
            StringMatcher.MatchPatternOneofCase.Suffix => value.EndsWith(m.Suffix, comparison),
            StringMatcher.MatchPatternOneofCase.Contains => value.Contains(m.Contains, comparison),
            StringMatcher.MatchPatternOneofCase.SafeRegex => Regex.IsMatch(value, "^(?:" + m.SafeRegex.Regex + ")$"),
            _ => false,
        };
    }
}
