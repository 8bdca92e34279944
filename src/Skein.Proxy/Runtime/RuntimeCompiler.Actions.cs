using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Globalization;
using Skein.Xds.Envoy.Config.Route.V3;
using Skein.Xds.Envoy.Type.Matcher.V3;
using XdsRouteAction = Skein.Xds.Envoy.Config.Route.V3.RouteAction;

namespace Skein.Proxy.Runtime;

internal sealed partial class RuntimeCompiler
{
    private static readonly TimeSpan DefaultRouteTimeout = TimeSpan.FromSeconds(15);

    private ForwardRouteAction CompileForward(
        XdsRouteAction a, FrozenDictionary<string, ClusterEntry> clusters, bool validateClusters, List<string> errors, string where)
    {
        WeightedClusterEntry? single = null;
        string? header = null;
        var weighted = ImmutableArray<WeightedClusterEntry>.Empty;
        var total = 0;

        WeightedClusterEntry Target(string name, int weight, string path, WeightedCluster.Types.ClusterWeight? w)
        {
            if (string.IsNullOrEmpty(name))
            {
                throw new ConfigException($"{path}: cluster name is required");
            }

            clusters.TryGetValue(name, out var target);
            if (target is null && validateClusters)
            {
                throw new ConfigException($"{path}: unknown cluster \"{name}\"");
            }

            return w is null
                ? new WeightedClusterEntry(name, weight, target, HeaderMutations.None, HeaderMutations.None, PerFilterConfig.Empty)
                : new WeightedClusterEntry(
                    name,
                    weight,
                    target,
                    Mutations(w.RequestHeadersToAdd, w.RequestHeadersToRemove, errors, $"{where}.{path}.request_headers_to_add"),
                    Mutations(w.ResponseHeadersToAdd, w.ResponseHeadersToRemove, errors, $"{where}.{path}.response_headers_to_add"),
                    FilterConfigs(w.TypedPerFilterConfig, errors, $"{where}.{path}.typed_per_filter_config"));
        }

        switch (a.ClusterSpecifierCase)
        {
            case XdsRouteAction.ClusterSpecifierOneofCase.Cluster:
                single = Target(a.Cluster, 1, "cluster", null);
                break;
            case XdsRouteAction.ClusterSpecifierOneofCase.ClusterHeader:
                header = string.IsNullOrEmpty(a.ClusterHeader) ? throw new ConfigException("cluster_header: must not be empty") : a.ClusterHeader.ToLowerInvariant();
                break;
            case XdsRouteAction.ClusterSpecifierOneofCase.WeightedClusters:
                var builder = ImmutableArray.CreateBuilder<WeightedClusterEntry>();
                for (var i = 0; i < a.WeightedClusters.Clusters.Count; i++)
                {
                    var w = a.WeightedClusters.Clusters[i];
                    var weight = (int)(w.Weight ?? 0);
                    total += weight;
                    builder.Add(Target(w.Name, weight, $"weighted_clusters.clusters[{i}]", w));
                }

                if (builder.Count == 0)
                {
                    throw new ConfigException("weighted_clusters: at least one cluster is required");
                }

                if (a.WeightedClusters.TotalWeight is { } tw && tw != total)
                {
                    throw new ConfigException(string.Create(
                        CultureInfo.InvariantCulture, $"weighted_clusters: sum of weights ({total}) must equal total_weight ({tw})"));
                }

                if (total <= 0)
                {
                    throw new ConfigException("weighted_clusters: the sum of weights must be greater than 0");
                }

                weighted = builder.ToImmutable();
                break;
            default:
                throw new ConfigException("a cluster specifier (cluster, cluster_header or weighted_clusters) is required");
        }

        var upgrades = new Dictionary<string, bool>(StringComparer.OrdinalIgnoreCase);
        foreach (var u in a.UpgradeConfigs)
        {
            upgrades[u.UpgradeType] = u.Enabled ?? true;
        }

        var mirrors = ImmutableArray.CreateBuilder<MirrorPolicyRuntime>();
        foreach (var m in a.RequestMirrorPolicies)
        {
            mirrors.Add(new MirrorPolicyRuntime(
                m.Cluster, m.RuntimeFraction is null ? null : ProtoValues.Fraction(m.RuntimeFraction.DefaultValue), m.TraceSampled));
        }

        var hashes = ImmutableArray.CreateBuilder<HashPolicyRuntime>();
        foreach (var h in a.HashPolicy)
        {
            hashes.Add(h.PolicySpecifierCase switch
            {
                XdsRouteAction.Types.HashPolicy.PolicySpecifierOneofCase.Header => new HashPolicyRuntime(
                    HashPolicyKind.Header, h.Header.HeaderName.ToLowerInvariant(), null, null, Rewrite(h.Header.RegexRewrite), h.Terminal),
                XdsRouteAction.Types.HashPolicy.PolicySpecifierOneofCase.Cookie => new HashPolicyRuntime(
                    HashPolicyKind.Cookie, h.Cookie.Name, ProtoValues.ToTimeSpan(h.Cookie.Ttl), h.Cookie.Path, null, h.Terminal),
                XdsRouteAction.Types.HashPolicy.PolicySpecifierOneofCase.ConnectionProperties =>
                    new HashPolicyRuntime(HashPolicyKind.SourceIp, string.Empty, null, null, null, h.Terminal),
                XdsRouteAction.Types.HashPolicy.PolicySpecifierOneofCase.QueryParameter =>
                    new HashPolicyRuntime(HashPolicyKind.QueryParameter, h.QueryParameter.Name, null, null, null, h.Terminal),
                XdsRouteAction.Types.HashPolicy.PolicySpecifierOneofCase.FilterState =>
                    new HashPolicyRuntime(HashPolicyKind.FilterState, h.FilterState.Key, null, null, null, h.Terminal),
                _ => throw new ConfigException("hash_policy: a policy specifier is required"),
            });
        }

        if (!string.IsNullOrEmpty(a.PrefixRewrite) && a.RegexRewrite is not null)
        {
            throw new ConfigException("prefix_rewrite and regex_rewrite are mutually exclusive");
        }

        return new ForwardRouteAction
        {
            Cluster = single,
            ClusterHeader = header,
            WeightedClusters = weighted,
            TotalWeight = total,
            ClusterNotFoundStatus = a.ClusterNotFoundResponseCode == XdsRouteAction.Types.ClusterNotFoundResponseCode.NotFound ? 404 : 503,
            PrefixRewrite = string.IsNullOrEmpty(a.PrefixRewrite) ? null : a.PrefixRewrite,
            RegexRewrite = Rewrite(a.RegexRewrite),
            HostRewriteLiteral = a.HostRewriteSpecifierCase == XdsRouteAction.HostRewriteSpecifierOneofCase.HostRewriteLiteral
                && a.HostRewriteLiteral.Length > 0 ? a.HostRewriteLiteral : null,
            AutoHostRewrite = a.AutoHostRewrite ?? false,
            Timeout = ProtoValues.Timeout(a.Timeout, DefaultRouteTimeout),
            IdleTimeout = ProtoValues.ToTimeSpan(a.IdleTimeout),
            GrpcTimeoutHeaderMax = ProtoValues.ToTimeSpan(a.MaxStreamDuration?.GrpcTimeoutHeaderMax),
            MaxStreamDuration = ProtoValues.Timeout(a.MaxStreamDuration?.MaxStreamDuration_, null),
            RetryPolicy = a.RetryPolicy is null ? null : CompileRetryPolicy(a.RetryPolicy),
            MirrorPolicies = mirrors.ToImmutable(),
            HashPolicies = hashes.ToImmutable(),
            Cors = a.Cors is null ? null : CompileCors(a.Cors),
            Upgrades = upgrades.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
        };
    }

    private static RegexRewrite? Rewrite(RegexMatchAndSubstitute? r) =>
        r?.Pattern is null ? null : new RegexRewrite(SafeRegex.Search(r.Pattern.Regex), ConvertSubstitution(r.Substitution));

    /// <summary>RE2 writes capture groups as <c>\1</c>; .NET as <c>$1</c>.</summary>
    private static string ConvertSubstitution(string s)
    {
        var sb = new System.Text.StringBuilder(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 1 < s.Length && char.IsAsciiDigit(s[i + 1]))
            {
                sb.Append("${").Append(s[i + 1]).Append('}');
                i++;
            }
            else if (s[i] == '$')
            {
                sb.Append("$$");
            }
            else
            {
                sb.Append(s[i]);
            }
        }

        return sb.ToString();
    }

    private static RedirectRouteAction CompileRedirect(RedirectAction r)
    {
        var scheme = r.SchemeRewriteSpecifierCase switch
        {
            RedirectAction.SchemeRewriteSpecifierOneofCase.HttpsRedirect when r.HttpsRedirect => "https",
            RedirectAction.SchemeRewriteSpecifierOneofCase.SchemeRedirect when r.SchemeRedirect.Length > 0 => r.SchemeRedirect.ToLowerInvariant(),
            _ => null,
        };
        if (r.PortRedirect > 65535)
        {
            throw new ConfigException("port_redirect: must be 0..65535");
        }

        return new RedirectRouteAction(
            scheme,
            string.IsNullOrEmpty(r.HostRedirect) ? null : r.HostRedirect,
            (int)r.PortRedirect,
            r.PathRewriteSpecifierCase == RedirectAction.PathRewriteSpecifierOneofCase.PathRedirect ? r.PathRedirect : null,
            r.PathRewriteSpecifierCase == RedirectAction.PathRewriteSpecifierOneofCase.PrefixRewrite ? r.PrefixRewrite : null,
            r.PathRewriteSpecifierCase == RedirectAction.PathRewriteSpecifierOneofCase.RegexRewrite ? Rewrite(r.RegexRewrite) : null,
            r.ResponseCode switch
            {
                RedirectAction.Types.RedirectResponseCode.Found => 302,
                RedirectAction.Types.RedirectResponseCode.SeeOther => 303,
                RedirectAction.Types.RedirectResponseCode.TemporaryRedirect => 307,
                RedirectAction.Types.RedirectResponseCode.PermanentRedirect => 308,
                _ => 301,
            },
            r.StripQuery);
    }

    private static DirectResponseRouteAction CompileDirectResponse(DirectResponseAction d)
    {
        if (d.Status is < 200 or > 599)
        {
            throw new ConfigException(string.Create(CultureInfo.InvariantCulture, $"status: {d.Status} must be 200..599"));
        }

        return new DirectResponseRouteAction((int)d.Status, ProtoValues.Bytes(d.Body));
    }

    private static RetryPolicyRuntime CompileRetryPolicy(RetryPolicy p)
    {
        var on = ImmutableArray.CreateBuilder<string>();
        foreach (var part in p.RetryOn.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            on.Add(part);
        }

        var codes = ImmutableArray.CreateBuilder<int>();
        foreach (var c in p.RetriableStatusCodes)
        {
            codes.Add((int)c);
        }

        var baseInterval = ProtoValues.ToTimeSpan(p.RetryBackOff?.BaseInterval) ?? TimeSpan.FromMilliseconds(25);
        if (baseInterval <= TimeSpan.Zero)
        {
            throw new ConfigException("retry_back_off.base_interval: must be greater than 0");
        }

        var retriableHeaders = ImmutableArray.CreateBuilder<HeaderMatch>();
        foreach (var h in p.RetriableHeaders)
        {
            retriableHeaders.Add(CompileHeaderMatch(h));
        }

        var retriableRequestHeaders = ImmutableArray.CreateBuilder<HeaderMatch>();
        foreach (var h in p.RetriableRequestHeaders)
        {
            retriableRequestHeaders.Add(CompileHeaderMatch(h));
        }

        var maxInterval = ProtoValues.ToTimeSpan(p.RetryBackOff?.MaxInterval) ?? baseInterval * 10;
        if (maxInterval < baseInterval)
        {
            throw new ConfigException("retry_back_off.max_interval: must be greater than or equal to base_interval");
        }

        var previousHosts = false;
        foreach (var predicate in p.RetryHostPredicate)
        {
            previousHosts |= predicate.Name == "envoy.retry_host_predicates.previous_hosts"
                || predicate.TypedConfig?.TypeUrl == Skein.Xds.TypeUrls.PreviousHostsPredicate;
        }

        var retryOn = on.ToImmutable();
        return new RetryPolicyRuntime(
            retryOn,
            (int)(p.NumRetries ?? 1),
            ProtoValues.Timeout(p.PerTryTimeout, null),
            codes.ToImmutable(),
            baseInterval,
            maxInterval,
            retriableHeaders.ToImmutable(),
            retriableRequestHeaders.ToImmutable(),
            p.HostSelectionRetryMaxAttempts)
        {
            Conditions = ParseRetryOn(retryOn),
            AvoidPreviousHosts = previousHosts,
        };
    }

    /// <summary>Envoy's retry_on names (HTTP and gRPC); names Envoy knows but Skein does not act on are ignored, as Envoy ignores unknown ones.</summary>
    private static RetryConditions ParseRetryOn(ImmutableArray<string> names)
    {
        var conditions = RetryConditions.None;
        foreach (var name in names)
        {
            conditions |= name switch
            {
                "5xx" => RetryConditions.ServerError,
                "gateway-error" => RetryConditions.GatewayError,
                "reset" => RetryConditions.Reset,
                "connect-failure" => RetryConditions.ConnectFailure,
                "retriable-4xx" => RetryConditions.Retriable4xx,
                "refused-stream" => RetryConditions.RefusedStream,
                "retriable-status-codes" => RetryConditions.RetriableStatusCodes,
                "retriable-headers" => RetryConditions.RetriableHeaders,
                "envoy-ratelimited" => RetryConditions.EnvoyRateLimited,
                "reset-before-request" => RetryConditions.ResetBeforeRequest,
                "cancelled" => RetryConditions.GrpcCancelled,
                "deadline-exceeded" => RetryConditions.GrpcDeadlineExceeded,
                "internal" => RetryConditions.GrpcInternal,
                "resource-exhausted" => RetryConditions.GrpcResourceExhausted,
                "unavailable" => RetryConditions.GrpcUnavailable,
                _ => RetryConditions.None,
            };
        }

        return conditions;
    }

    /// <summary>A route or virtual host CORS policy; origins are matched with Envoy's string matchers.</summary>
    internal static CorsPolicyRuntime CompileCors(CorsPolicy c)
    {
        var origins = ImmutableArray.CreateBuilder<StringMatch>();
        for (var i = 0; i < c.AllowOriginStringMatch.Count; i++)
        {
            try
            {
                origins.Add(ProtoValues.String(c.AllowOriginStringMatch[i]));
            }
            catch (ConfigException e)
            {
                throw new ConfigException($"cors.allow_origin_string_match[{i}]: {e.Message}");
            }
        }

        if (c.MaxAge.Length > 0 && !long.TryParse(c.MaxAge, NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            throw new ConfigException($"cors.max_age: \"{c.MaxAge}\" must be a number of seconds");
        }

        return new CorsPolicyRuntime(
            origins.ToImmutable(),
            c.AllowMethods,
            c.AllowHeaders,
            c.ExposeHeaders,
            c.MaxAge,
            c.AllowCredentials ?? false,
            c.FilterEnabled is null ? null : ProtoValues.Fraction(c.FilterEnabled.DefaultValue),
            c.ShadowEnabled is null ? null : ProtoValues.Fraction(c.ShadowEnabled.DefaultValue));
    }
}
