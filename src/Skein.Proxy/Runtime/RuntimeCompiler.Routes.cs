using System.Collections.Frozen;
using System.Collections.Immutable;
using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Route.V3;

namespace Skein.Proxy.Runtime;

internal sealed partial class RuntimeCompiler
{
    private RouteTable? CompileRouteTable(
        RouteConfiguration rc, FrozenDictionary<string, ClusterEntry> clusters, List<string> errors, string where)
    {
        var before = errors.Count;
        var validateClusters = rc.ValidateClusters ?? false;
        var exact = new Dictionary<string, VirtualHostRuntime>(StringComparer.OrdinalIgnoreCase);
        var suffix = new List<KeyValuePair<string, VirtualHostRuntime>>();
        var prefix = new List<KeyValuePair<string, VirtualHostRuntime>>();
        VirtualHostRuntime? fallback = null;
        var hosts = ImmutableArray.CreateBuilder<VirtualHostRuntime>();
        var seenDomains = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

        for (var i = 0; i < rc.VirtualHosts.Count; i++)
        {
            var vh = rc.VirtualHosts[i];
            var vhWhere = $"{where}.virtual_hosts[{i}]";
            var host = CompileVirtualHost(vh, clusters, validateClusters, errors, vhWhere);
            hosts.Add(host);
            if (vh.Domains.Count == 0)
            {
                errors.Add($"{vhWhere}.domains: at least one domain is required");
            }

            foreach (var domain in vh.Domains)
            {
                if (!seenDomains.Add(domain))
                {
                    errors.Add($"{vhWhere}.domains: duplicate domain \"{domain}\" (only unique values for domains are permitted)");
                    continue;
                }

                var star = domain.IndexOf('*', StringComparison.Ordinal);
                if (domain == "*")
                {
                    fallback = host;
                }
                else if (star < 0)
                {
                    exact[domain] = host;
                }
                else if (star == 0 && domain.IndexOf('*', 1) < 0)
                {
                    suffix.Add(new(domain[1..], host));
                }
                else if (star == domain.Length - 1)
                {
                    prefix.Add(new(domain[..^1], host));
                }
                else
                {
                    errors.Add($"{vhWhere}.domains: \"{domain}\": a wildcard may only be a prefix or suffix");
                }
            }
        }

        // Longest wildcard wins.
        suffix.Sort((a, b) => b.Key.Length.CompareTo(a.Key.Length));
        prefix.Sort((a, b) => b.Key.Length.CompareTo(a.Key.Length));

        var table = new RouteTable
        {
            Name = rc.Name,
            ExactDomains = exact.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            SuffixDomains = [.. suffix],
            PrefixDomains = [.. prefix],
            DefaultHost = fallback,
            RequestHeaders = Mutations(rc.RequestHeadersToAdd, rc.RequestHeadersToRemove, errors, $"{where}.request_headers_to_add"),
            ResponseHeaders = Mutations(rc.ResponseHeadersToAdd, rc.ResponseHeadersToRemove, errors, $"{where}.response_headers_to_add"),
            FilterConfigs = FilterConfigs(rc.TypedPerFilterConfig, errors, $"{where}.typed_per_filter_config"),
            VirtualHosts = hosts.ToImmutable(),
        };
        foreach (var h in table.VirtualHosts)
        {
            h.Table = table;
        }

        return errors.Count > before ? null : table;
    }

    private VirtualHostRuntime CompileVirtualHost(
        VirtualHost vh, FrozenDictionary<string, ClusterEntry> clusters, bool validateClusters, List<string> errors, string where)
    {
        var routes = ImmutableArray.CreateBuilder<RouteRuntime>();
        for (var i = 0; i < vh.Routes.Count; i++)
        {
            var route = CompileRoute(vh.Routes[i], clusters, validateClusters, errors, $"{where}.routes[{i}]");
            if (route is not null)
            {
                routes.Add(route);
            }
        }

        var host = new VirtualHostRuntime
        {
            Name = vh.Name,
            Domains = [.. vh.Domains],
            Routes = routes.ToImmutable(),
            RequestHeaders = Mutations(vh.RequestHeadersToAdd, vh.RequestHeadersToRemove, errors, $"{where}.request_headers_to_add"),
            ResponseHeaders = Mutations(vh.ResponseHeadersToAdd, vh.ResponseHeadersToRemove, errors, $"{where}.response_headers_to_add"),
            FilterConfigs = FilterConfigs(vh.TypedPerFilterConfig, errors, $"{where}.typed_per_filter_config"),
            RetryPolicy = vh.RetryPolicy is null ? null : Guard(() => CompileRetryPolicy(vh.RetryPolicy), errors, $"{where}.retry_policy"),
            Cors = vh.Cors is null ? null : Guard(() => CompileCors(vh.Cors), errors, where),
        };
        foreach (var r in host.Routes)
        {
            r.VirtualHost = host;
        }

        return host;
    }

    private RouteRuntime? CompileRoute(
        Route r, FrozenDictionary<string, ClusterEntry> clusters, bool validateClusters, List<string> errors, string where)
    {
        var before = errors.Count;
        var match = r.Match is null ? null : Guard(() => CompileRouteMatch(r.Match), errors, $"{where}.match");
        if (r.Match is null)
        {
            errors.Add($"{where}.match: is required");
        }

        RouteAction? action = r.ActionCase switch
        {
            Route.ActionOneofCase.Route_ => Guard(() => CompileForward(r.Route_, clusters, validateClusters, errors, $"{where}.route"), errors, $"{where}.route"),
            Route.ActionOneofCase.Redirect => Guard(() => CompileRedirect(r.Redirect), errors, $"{where}.redirect"),
            Route.ActionOneofCase.DirectResponse => Guard(() => CompileDirectResponse(r.DirectResponse), errors, $"{where}.direct_response"),
            Route.ActionOneofCase.NonForwardingAction => Fail<RouteAction>(errors, $"{where}.non_forwarding_action: only valid for gRPC servers"),
            _ => Fail<RouteAction>(errors, $"{where}: a route needs an action (route, redirect or direct_response)"),
        };

        if (errors.Count > before || match is null || action is null)
        {
            return null;
        }

        return new RouteRuntime
        {
            Name = r.Name,
            Match = match,
            Action = action,
            RequestHeaders = Mutations(r.RequestHeadersToAdd, r.RequestHeadersToRemove, errors, $"{where}.request_headers_to_add"),
            ResponseHeaders = Mutations(r.ResponseHeadersToAdd, r.ResponseHeadersToRemove, errors, $"{where}.response_headers_to_add"),
            FilterConfigs = FilterConfigs(r.TypedPerFilterConfig, errors, $"{where}.typed_per_filter_config"),
        };
    }

    private static RouteMatchRuntime CompileRouteMatch(RouteMatch m)
    {
        var caseSensitive = m.CaseSensitive ?? true;
        var (kind, value, regex) = m.PathSpecifierCase switch
        {
            RouteMatch.PathSpecifierOneofCase.Prefix => (PathMatchKind.Prefix, m.Prefix, null),
            RouteMatch.PathSpecifierOneofCase.Path => (PathMatchKind.Exact, m.Path, null),
            RouteMatch.PathSpecifierOneofCase.SafeRegex => (PathMatchKind.Regex, m.SafeRegex.Regex, SafeRegex.FullMatch(m.SafeRegex.Regex)),
            _ => throw new ConfigException("a path specifier (prefix, path or safe_regex) is required"),
        };

        var headers = ImmutableArray.CreateBuilder<HeaderMatch>();
        for (var i = 0; i < m.Headers.Count; i++)
        {
            headers.Add(Wrap(() => CompileHeaderMatch(m.Headers[i]), $"headers[{i}]"));
        }

        var query = ImmutableArray.CreateBuilder<QueryMatch>();
        for (var i = 0; i < m.QueryParameters.Count; i++)
        {
            var q = m.QueryParameters[i];
            if (string.IsNullOrEmpty(q.Name))
            {
                throw new ConfigException($"query_parameters[{i}].name: is required");
            }

            query.Add(q.QueryParameterMatchSpecifierCase switch
            {
                QueryParameterMatcher.QueryParameterMatchSpecifierOneofCase.StringMatch =>
                    new QueryMatch(q.Name, Wrap(() => ProtoValues.String(q.StringMatch), $"query_parameters[{i}].string_match"), true),
                QueryParameterMatcher.QueryParameterMatchSpecifierOneofCase.PresentMatch => new QueryMatch(q.Name, null, q.PresentMatch),
                _ => new QueryMatch(q.Name, null, true),
            });
        }

        return new RouteMatchRuntime(
            kind,
            value,
            regex,
            caseSensitive,
            headers.ToImmutable(),
            query.ToImmutable(),
            m.Grpc is not null,
            m.RuntimeFraction is null ? null : ProtoValues.Fraction(m.RuntimeFraction.DefaultValue));
    }

    internal static HeaderMatch CompileHeaderMatch(HeaderMatcher h)
    {
        if (string.IsNullOrEmpty(h.Name))
        {
            throw new ConfigException("name: is required");
        }

        var name = h.Name.ToLowerInvariant();
        HeaderMatch Str(StringMatch s) => new(name, HeaderMatchKind.String, s, false, 0, 0, h.InvertMatch, h.TreatMissingHeaderAsEmpty);
        return h.HeaderMatchSpecifierCase switch
        {
            HeaderMatcher.HeaderMatchSpecifierOneofCase.ExactMatch when h.ExactMatch.Length == 0 =>
                new HeaderMatch(name, HeaderMatchKind.Present, null, true, 0, 0, h.InvertMatch, h.TreatMissingHeaderAsEmpty),
            HeaderMatcher.HeaderMatchSpecifierOneofCase.ExactMatch => Str(new StringMatch(StringMatchKind.Exact, h.ExactMatch, false, null)),
            HeaderMatcher.HeaderMatchSpecifierOneofCase.PrefixMatch => Str(new StringMatch(StringMatchKind.Prefix, h.PrefixMatch, false, null)),
            HeaderMatcher.HeaderMatchSpecifierOneofCase.SuffixMatch => Str(new StringMatch(StringMatchKind.Suffix, h.SuffixMatch, false, null)),
            HeaderMatcher.HeaderMatchSpecifierOneofCase.ContainsMatch => Str(new StringMatch(StringMatchKind.Contains, h.ContainsMatch, false, null)),
            HeaderMatcher.HeaderMatchSpecifierOneofCase.SafeRegexMatch =>
                Str(new StringMatch(StringMatchKind.Regex, h.SafeRegexMatch.Regex, false, SafeRegex.FullMatch(h.SafeRegexMatch.Regex))),
            HeaderMatcher.HeaderMatchSpecifierOneofCase.StringMatch => Str(ProtoValues.String(h.StringMatch)),
            HeaderMatcher.HeaderMatchSpecifierOneofCase.RangeMatch =>
                new HeaderMatch(name, HeaderMatchKind.Range, null, false, h.RangeMatch.Start, h.RangeMatch.End, h.InvertMatch, h.TreatMissingHeaderAsEmpty),
            HeaderMatcher.HeaderMatchSpecifierOneofCase.PresentMatch =>
                new HeaderMatch(name, HeaderMatchKind.Present, null, h.PresentMatch, 0, 0, h.InvertMatch, h.TreatMissingHeaderAsEmpty),
            _ => new HeaderMatch(name, HeaderMatchKind.Present, null, true, 0, 0, h.InvertMatch, h.TreatMissingHeaderAsEmpty),
        };
    }
}
