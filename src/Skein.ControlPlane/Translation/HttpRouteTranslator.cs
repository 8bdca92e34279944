using Skein.Api.Model;
using Skein.Api.Naming;
using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Registry;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Route.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.Fault.V3;
using Skein.Xds.Envoy.Extensions.Retry.Host.PreviousHosts.V3;
using Skein.Xds.Envoy.Type.Matcher.V3;
using ApiCorsPolicy = Skein.Api.Model.CorsPolicy;
using ApiFaultAbort = Skein.Api.Model.FaultAbort;
using ApiStringMatch = Skein.Api.Model.StringMatch;
using XdsCorsPolicy = Skein.Xds.Envoy.Config.Route.V3.CorsPolicy;
using XdsFaultDelay = Skein.Xds.Envoy.Extensions.Filters.Common.Fault.V3.FaultDelay;
using XdsFaultAbort = Skein.Xds.Envoy.Extensions.Filters.Http.Fault.V3.FaultAbort;

namespace Skein.ControlPlane.Translation;

/// <summary>
/// Translates VirtualService HTTP routes into Envoy routes for one service port as one proxy sees it,
/// following Istio's route translation (pilot/pkg/networking/core/route): one Envoy route per match, matches
/// filtered by port, sourceLabels, sourceNamespace and gateways; weighted destinations normalised to 100;
/// Istio's default retry policy; fault, rate limit and mirror settings per route. Proxyless gRPC clients get
/// only what they accept (no redirects or direct responses, gRPC retry conditions only).
/// </summary>
internal static class HttpRouteTranslator
{
    private const string ClaimPrefix = "@request.auth.claims.";
    private const string DefaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
    private static readonly TimeSpan DefaultBackoff = TimeSpan.FromMilliseconds(25);

    /// <summary>Retry conditions gRPC clients understand (A44).</summary>
    private static readonly HashSet<string> GrpcRetryOn = new(StringComparer.Ordinal)
    {
        "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
    };

    /// <summary>gRPC status codes by name, for fault aborts.</summary>
    private static readonly Dictionary<string, uint> GrpcCodes = new(StringComparer.Ordinal)
    {
        ["OK"] = 0, ["CANCELLED"] = 1, ["UNKNOWN"] = 2, ["INVALID_ARGUMENT"] = 3, ["DEADLINE_EXCEEDED"] = 4,
        ["NOT_FOUND"] = 5, ["ALREADY_EXISTS"] = 6, ["PERMISSION_DENIED"] = 7, ["RESOURCE_EXHAUSTED"] = 8,
        ["FAILED_PRECONDITION"] = 9, ["ABORTED"] = 10, ["OUT_OF_RANGE"] = 11, ["UNIMPLEMENTED"] = 12,
        ["INTERNAL"] = 13, ["UNAVAILABLE"] = 14, ["DATA_LOSS"] = 15, ["UNAUTHENTICATED"] = 16,
    };

    /// <summary>The routes of the virtual host for <paramref name="service"/> on <paramref name="port"/>.</summary>
    public static List<Route> RoutesFor(MeshSnapshot snapshot, ResolvedProxy proxy, MeshService service, int port)
    {
        var proxyless = proxy.Mode == ProxyMode.Proxyless;
        var vs = snapshot.VirtualServiceFor(service.Host);
        if (vs?.Spec?.Http is not { Count: > 0 } http)
        {
            return [DefaultRoute(snapshot, proxy, service, port)];
        }

        var routes = new List<Route>();
        foreach (var h in http)
        {
            if (h.Delegate is not null || (proxyless && (h.Redirect is not null || h.DirectResponse is not null)))
            {
                continue;
            }

            var matches = new List<(RouteMatch Match, string Name)>();
            if (h.Match is not { Count: > 0 })
            {
                matches.Add((new RouteMatch { Prefix = "/" }, h.Name ?? ""));
            }
            else
            {
                foreach (var m in h.Match)
                {
                    if (Applies(m, port, proxy))
                    {
                        matches.Add((TranslateMatch(m), m.Name is { Length: > 0 } n ? (h.Name is { Length: > 0 } hn ? $"{hn}.{n}" : n) : h.Name ?? ""));
                    }
                }
            }

            if (matches.Count == 0)
            {
                continue; // every match is for another port or another caller
            }

            var template = Translate(snapshot, proxy, vs, h, port);
            foreach (var (match, name) in matches)
            {
                var route = template.Clone();
                route.Name = name;
                route.Match = match;
                routes.Add(route);
            }
        }

        return routes;
    }

    /// <summary>Istio's route for a service no VirtualService routes: everything to the service's cluster.</summary>
    public static Route DefaultRoute(MeshSnapshot snapshot, ResolvedProxy proxy, MeshService service, int port)
    {
        var cluster = ResourceNames.OutboundCluster(port, null, service.Host);
        var action = new RouteAction { Cluster = cluster };
        SetTimeout(action, null);
        var hash = HashPolicyFor(snapshot, proxy, service.Host, null, port);
        if (hash is not null)
        {
            action.HashPolicy.Add(hash);
        }

        if (Retry(null, hash is not null, proxy.Mode == ProxyMode.Proxyless) is { } retry)
        {
            action.RetryPolicy = retry;
        }

        return new Route { Name = "default", Match = new RouteMatch { Prefix = "/" }, Route_ = action };
    }

    /// <summary>Whether a match applies on this port and from this proxy.</summary>
    internal static bool Applies(HttpMatchRequest m, int port, ResolvedProxy proxy)
    {
        if (m.Port is { } p && p != port)
        {
            return false;
        }

        if (m.SourceLabels is { } labels && !MeshConventions.Selects(labels, proxy.Labels))
        {
            return false;
        }

        if (m.SourceNamespace is { } ns && ns != proxy.Namespace)
        {
            return false;
        }

        if (m.Gateways is { Count: > 0 } gateways && !gateways.Contains("mesh"))
        {
            return false;
        }

        // JWT claims need RequestAuthentication, which Skein does not have: such a match never holds.
        return !(m.Headers ?? Empty).Keys.Any(k => k.StartsWith(ClaimPrefix, StringComparison.Ordinal))
            && !(m.WithoutHeaders ?? Empty).Keys.Any(k => k.StartsWith(ClaimPrefix, StringComparison.Ordinal));
    }

    private static readonly IReadOnlyDictionary<string, ApiStringMatch> Empty = new Dictionary<string, ApiStringMatch>();

    /// <summary>Istio's translateRouteMatch.</summary>
    internal static RouteMatch TranslateMatch(HttpMatchRequest m)
    {
        var rm = new RouteMatch();
        switch (m.Uri)
        {
            case { Exact: { } exact }:
                rm.Path = exact;
                break;
            case { Prefix: { } prefix }:
                rm.Prefix = prefix;
                break;
            case { Regex: { } regex }:
                rm.SafeRegex = new RegexMatcher { Regex = regex };
                break;
            default:
                rm.Prefix = "/";
                break;
        }

        if (m.IgnoreUriCase == true)
        {
            rm.CaseSensitive = false;
        }

        var headers = new List<HeaderMatcher>();
        foreach (var (name, match) in m.Headers ?? Empty)
        {
            if (name is not ("uri" or "scheme" or "method" or "authority"))
            {
                headers.Add(HeaderMatch(name, match));
            }
        }

        foreach (var (name, match) in m.WithoutHeaders ?? Empty)
        {
            if (name is not ("uri" or "scheme" or "method" or "authority"))
            {
                var h = HeaderMatch(name, match);
                h.InvertMatch = true;
                headers.Add(h);
            }
        }

        rm.Headers.AddRange(headers.OrderBy(h => h.Name, StringComparer.Ordinal));
        if (m.Method is { } method)
        {
            rm.Headers.Add(HeaderMatch(":method", method));
        }

        if (m.Authority is { } authority)
        {
            rm.Headers.Add(HeaderMatch(":authority", authority));
        }

        if (m.Scheme is { } scheme)
        {
            rm.Headers.Add(HeaderMatch(":scheme", scheme));
        }

        foreach (var (name, match) in (m.QueryParams ?? Empty).OrderBy(q => q.Key, StringComparer.Ordinal))
        {
            var q = new QueryParameterMatcher { Name = name };
            if (StringMatcher(match) is { } sm)
            {
                q.StringMatch = sm;
            }
            else
            {
                q.PresentMatch = true;
            }

            rm.QueryParameters.Add(q);
        }

        return rm;
    }

    /// <summary>Istio's translateHeaderMatch: exact/prefix/regex as a string_match; empty (or a catch-all) as present.</summary>
    private static HeaderMatcher HeaderMatch(string name, ApiStringMatch match)
    {
        var h = new HeaderMatcher { Name = name };
        if (StringMatcher(match) is { } sm && !(match.Prefix is "" || match.Regex is "*" or ".*"))
        {
            h.StringMatch = sm;
        }
        else
        {
            h.PresentMatch = true;
        }

        return h;
    }

    private static StringMatcher? StringMatcher(ApiStringMatch? match) => match switch
    {
        { Exact: { } exact } => new StringMatcher { Exact = exact },
        { Prefix: { } prefix } => new StringMatcher { Prefix = prefix },
        { Regex: { } regex } => new StringMatcher { SafeRegex = new RegexMatcher { Regex = regex } },
        _ => null,
    };

    /// <summary>Everything of an HTTP route except its match and name: the action, headers and per-filter config.</summary>
    private static Route Translate(MeshSnapshot snapshot, ResolvedProxy proxy, VirtualService vs, HttpRoute h, int port)
    {
        var proxyless = proxy.Mode == ProxyMode.Proxyless;
        var route = new Route();
        var requestAdd = new List<HeaderValueOption>();
        var requestRemove = new List<string>();
        var responseAdd = new List<HeaderValueOption>();
        var responseRemove = new List<string>();
        AddHeaders(h.Headers, requestAdd, requestRemove, responseAdd, responseRemove);

        if (h.Redirect is { } redirect)
        {
            route.Redirect = Redirect(redirect, port);
        }
        else if (h.DirectResponse is { } direct)
        {
            route.DirectResponse = new DirectResponseAction { Status = (uint)(direct.Status ?? 200) };
            if (direct.Body is { String: { } text })
            {
                route.DirectResponse.Body = new DataSource { InlineString = text };
            }
            else if (direct.Body is { Bytes: { } bytes })
            {
                route.DirectResponse.Body = new DataSource { InlineBytes = Google.Protobuf.ByteString.FromBase64(bytes) };
            }
        }
        else
        {
            var action = new RouteAction();
            var destinations = (h.Route ?? []).Where(d => d.Destination is not null).ToList();
            if (destinations.Count > 1)
            {
                destinations = destinations.Where(d => d.Weight is not 0).ToList(); // Istio drops 0-weight destinations
            }

            if (destinations.Count == 1)
            {
                action.Cluster = ClusterFor(snapshot, vs, destinations[0].Destination!, port);
                AddHeaders(destinations[0].Headers, requestAdd, requestRemove, responseAdd, responseRemove);
            }
            else if (destinations.Count > 1)
            {
                var weights = XdsBuild.Normalize([.. destinations.Select(d => (long)(d.Weight ?? 0))]);
                var weighted = new WeightedCluster();
                for (var i = 0; i < destinations.Count; i++)
                {
                    var cw = new WeightedCluster.Types.ClusterWeight
                    {
                        Name = ClusterFor(snapshot, vs, destinations[i].Destination!, port),
                        Weight = weights[i],
                    };
                    var (ra, rr, sa, sr) = (new List<HeaderValueOption>(), new List<string>(), new List<HeaderValueOption>(), new List<string>());
                    AddHeaders(destinations[i].Headers, ra, rr, sa, sr);
                    cw.RequestHeadersToAdd.AddRange(ra);
                    cw.RequestHeadersToRemove.AddRange(rr);
                    cw.ResponseHeadersToAdd.AddRange(sa);
                    cw.ResponseHeadersToRemove.AddRange(sr);
                    weighted.Clusters.Add(cw);
                }

                action.WeightedClusters = weighted;
            }

            SetTimeout(action, h.Timeout);

            RouteAction.Types.HashPolicy? hash = null;
            foreach (var d in destinations)
            {
                var host = MeshConventions.Qualify(d.Destination!.Host!, vs.Namespace);
                hash = HashPolicyFor(snapshot, proxy, host, d.Destination.Subset, PortFor(snapshot, host, d.Destination, port));
                if (hash is not null)
                {
                    break;
                }
            }

            if (hash is not null)
            {
                action.HashPolicy.Add(hash);
            }

            if (Retry(h.Retries, hash is not null, proxyless) is { } retry)
            {
                action.RetryPolicy = retry;
            }

            if (h.Rewrite is { } rewrite)
            {
                if (rewrite.UriRegexRewrite is { Match: { } pattern } regexRewrite)
                {
                    action.RegexRewrite = new RegexMatchAndSubstitute { Pattern = new RegexMatcher { Regex = pattern }, Substitution = regexRewrite.Rewrite ?? "" };
                }
                else if (rewrite.Uri is { } uri)
                {
                    action.PrefixRewrite = uri;
                }

                if (rewrite.Authority is { Length: > 0 } authority)
                {
                    action.HostRewriteLiteral = authority;
                }
            }

            if (!proxyless)
            {
                if (h.Mirror is { } mirror)
                {
                    action.RequestMirrorPolicies.Add(new RouteAction.Types.RequestMirrorPolicy
                    {
                        Cluster = ClusterFor(snapshot, vs, mirror, port),
                        RuntimeFraction = MirrorFraction(h),
                        TraceSampled = false,
                    });
                }

                foreach (var m in h.Mirrors ?? [])
                {
                    if (m.Destination is not { } d)
                    {
                        continue;
                    }

                    action.RequestMirrorPolicies.Add(new RouteAction.Types.RequestMirrorPolicy
                    {
                        Cluster = ClusterFor(snapshot, vs, d, port),
                        RuntimeFraction = m.Percentage is { } pct
                            ? new RuntimeFractionalPercent { DefaultValue = XdsBuild.Fraction(pct.Value ?? 0) }
                            : new RuntimeFractionalPercent { DefaultValue = XdsBuild.FractionHundred(100) },
                        TraceSampled = false,
                    });
                }

                if (h.CorsPolicy is { } cors)
                {
                    action.Cors = Cors(cors);
                }
            }

            route.Route_ = action;
        }

        if (h.Fault is { } fault && Fault(fault) is { } httpFault)
        {
            route.TypedPerFilterConfig[FilterNames.Fault] = XdsAny.Pack(httpFault, TypeUrls.HttpFault);
        }

        route.RequestHeadersToAdd.AddRange(requestAdd);
        route.RequestHeadersToRemove.AddRange(requestRemove);
        route.ResponseHeadersToAdd.AddRange(responseAdd);
        route.ResponseHeadersToRemove.AddRange(responseRemove);
        return route;
    }

    /// <summary>The port a destination is sent to: its own, else the listener's when the service has it, else the service's only port.</summary>
    internal static int PortFor(MeshSnapshot snapshot, string host, Destination destination, int listenerPort)
    {
        if (destination.Port?.Number is { } explicitPort)
        {
            return explicitPort;
        }

        if (snapshot.ServicesByHost.TryGetValue(host, out var service) && service.FindPort(listenerPort) is null && service.Ports.Length == 1)
        {
            return service.Ports[0].Port;
        }

        return listenerPort;
    }

    /// <summary>The cluster a destination names: <c>outbound|port|subset|host</c>.</summary>
    internal static string ClusterFor(MeshSnapshot snapshot, VirtualService vs, Destination destination, int listenerPort)
    {
        var host = MeshConventions.Qualify(destination.Host!, vs.Namespace);
        return ResourceNames.OutboundCluster(PortFor(snapshot, host, destination, listenerPort), destination.Subset, host);
    }

    /// <summary>
    /// Istio's timeout: <c>timeout</c> (0s, disabled, when unset) and the same value as <c>max_stream_duration</c>,
    /// which proxyless gRPC clients read instead, capping the grpc-timeout header too.
    /// </summary>
    private static void SetTimeout(RouteAction action, Duration? timeout)
    {
        var value = timeout is { } t ? XdsBuild.Duration(t) : XdsBuild.Zero;
        action.Timeout = value;
        action.MaxStreamDuration = new RouteAction.Types.MaxStreamDuration
        {
            MaxStreamDuration_ = value.Clone(),
            GrpcTimeoutHeaderMax = value.Clone(),
        };
    }

    /// <summary>
    /// Istio's retry.ConvertPolicy: the default policy (2 retries on connect-failure, refused-stream, unavailable,
    /// cancelled and 503) when unset; none when attempts is 0; status codes in retryOn go to retriable_status_codes.
    /// </summary>
    internal static RetryPolicy? Retry(HttpRetry? retry, bool hashPolicy, bool proxyless)
    {
        if (retry is not null && (retry.Attempts ?? 0) <= 0)
        {
            return null;
        }

        if (proxyless && retry is null)
        {
            return null; // gRPC clients retry only when asked to
        }

        var policy = new RetryPolicy
        {
            NumRetries = (uint)(retry?.Attempts ?? 2),
            RetryOn = DefaultRetryOn,
            RetriableStatusCodes = { 503 },
            RetryBackOff = new RetryPolicy.Types.RetryBackOff { BaseInterval = XdsBuild.Duration(retry?.Backoff?.Value ?? DefaultBackoff) },
        };

        if (retry?.RetryOn is { } retryOn)
        {
            var conditions = new List<string>();
            var codes = new List<uint>();
            foreach (var raw in retryOn.Split(','))
            {
                var part = raw.Trim();
                if (part.Length == 0)
                {
                    continue;
                }

                if (uint.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var code) && code is >= 100 and <= 599)
                {
                    codes.Add(code);
                }
                else
                {
                    conditions.Add(part);
                }
            }

            if (codes.Count > 0 && !conditions.Contains("retriable-status-codes"))
            {
                conditions.Add("retriable-status-codes");
            }

            policy.RetryOn = string.Join(',', conditions);
            policy.RetriableStatusCodes.Clear();
            policy.RetriableStatusCodes.AddRange(codes);
        }

        if (retry?.PerTryTimeout is { } perTry)
        {
            policy.PerTryTimeout = XdsBuild.Duration(perTry);
        }

        if (proxyless)
        {
            var grpc = policy.RetryOn.Split(',').Where(GrpcRetryOn.Contains).ToList();
            if (grpc.Count == 0)
            {
                return null;
            }

            policy.RetryOn = string.Join(',', grpc);
            policy.RetriableStatusCodes.Clear();
            policy.NumRetries = Math.Max(1u, policy.NumRetries ?? 1);
            return policy;
        }

        policy.HostSelectionRetryMaxAttempts = 5;
        if (!hashPolicy && retry?.RetryIgnorePreviousHosts != false)
        {
            // Retries prefer hosts not tried yet; not with consistent hashing, which must keep the same host.
            policy.RetryHostPredicate.Add(new RetryPolicy.Types.RetryHostPredicate
            {
                Name = FilterNames.PreviousHosts,
                TypedConfig = XdsAny.Pack(new PreviousHostsPredicate(), TypeUrls.PreviousHostsPredicate),
            });
        }

        return policy;
    }

    /// <summary>The consistent-hash policy the destination's DestinationRule asks for, as a route hash policy.</summary>
    private static RouteAction.Types.HashPolicy? HashPolicyFor(MeshSnapshot snapshot, ResolvedProxy proxy, string host, string? subset, int port)
    {
        var ns = snapshot.ServicesByHost.TryGetValue(host, out var service) ? service.Namespace : proxy.Namespace;
        var rule = snapshot.DestinationRuleFor(host, proxy.Namespace, ns);
        if (Policies.Effective(rule, subset, port)?.LoadBalancer?.ConsistentHash is not { } hash)
        {
            return null;
        }

        var policy = new RouteAction.Types.HashPolicy();
        if (hash.HttpHeaderName is { } header)
        {
            policy.Header = new RouteAction.Types.HashPolicy.Types.Header { HeaderName = header };
        }
        else if (hash.HttpCookie is { } cookie)
        {
            policy.Cookie = new RouteAction.Types.HashPolicy.Types.Cookie { Name = cookie.Name ?? "", Path = cookie.Path ?? "" };
            if (cookie.Ttl is { } ttl)
            {
                policy.Cookie.Ttl = XdsBuild.Duration(ttl);
            }
        }
        else if (hash.UseSourceIp == true)
        {
            policy.ConnectionProperties = new RouteAction.Types.HashPolicy.Types.ConnectionProperties { SourceIp = true };
        }
        else if (hash.HttpQueryParameterName is { } query)
        {
            policy.QueryParameter = new RouteAction.Types.HashPolicy.Types.QueryParameter { Name = query };
        }
        else
        {
            return null;
        }

        return policy;
    }

    private static RedirectAction Redirect(HttpRedirect redirect, int port)
    {
        var r = new RedirectAction
        {
            HostRedirect = redirect.Authority ?? "",
            ResponseCode = redirect.RedirectCode switch
            {
                302 => RedirectAction.Types.RedirectResponseCode.Found,
                303 => RedirectAction.Types.RedirectResponseCode.SeeOther,
                307 => RedirectAction.Types.RedirectResponseCode.TemporaryRedirect,
                308 => RedirectAction.Types.RedirectResponseCode.PermanentRedirect,
                _ => RedirectAction.Types.RedirectResponseCode.MovedPermanently,
            },
        };
        if (redirect.Uri is { Length: > 0 } uri)
        {
            r.PathRedirect = uri;
        }

        if (redirect.Scheme is { } scheme)
        {
            r.SchemeRedirect = scheme;
        }

        if (redirect.Port is { } p)
        {
            r.PortRedirect = (uint)p;
        }
        else if (redirect.DerivePort == RedirectPortSelection.FromRequestPort)
        {
            // Routes are built per port, so the request's port is the listener's.
            r.PortRedirect = (uint)port;
        }

        return r;
    }

    /// <summary>Istio's translateFault: percentages per million (0% when unset, as Istio documents), gRPC codes by number.</summary>
    private static HTTPFault? Fault(HttpFaultInjection fault)
    {
        var result = new HTTPFault();
        if (fault.Delay is { FixedDelay: { } fixedDelay } delay)
        {
            result.Delay = new XdsFaultDelay
            {
                FixedDelay = XdsBuild.Duration(fixedDelay),
                Percentage = delay.Percentage is { } p ? XdsBuild.Fraction(p.Value ?? 0) : XdsBuild.FractionHundred(delay.Percent ?? 0),
            };
        }

        if (fault.Abort is { } abort && Abort(abort) is { } a)
        {
            result.Abort = a;
        }

        return result.Delay is null && result.Abort is null ? null : result;
    }

    private static XdsFaultAbort? Abort(ApiFaultAbort abort)
    {
        var a = new XdsFaultAbort { Percentage = abort.Percentage is { } p ? XdsBuild.Fraction(p.Value ?? 0) : XdsBuild.FractionHundred(0) };
        if (abort.HttpStatus is { } status)
        {
            a.HttpStatus = (uint)status;
        }
        else if (abort.GrpcStatus is { } grpc && GrpcCodes.TryGetValue(grpc, out var code))
        {
            a.GrpcStatus = code;
        }
        else
        {
            return null; // http2Error is not supported (reported by skein analyze)
        }

        return a;
    }

    /// <summary>Istio's MirrorPercent: mirrorPercentage, else the deprecated mirrorPercent, else 100%.</summary>
    private static RuntimeFractionalPercent MirrorFraction(HttpRoute h) => h switch
    {
        { MirrorPercentage: { } p } => new RuntimeFractionalPercent { DefaultValue = XdsBuild.Fraction(p.Value ?? 0) },
        { MirrorPercent: { } p } => new RuntimeFractionalPercent { DefaultValue = XdsBuild.FractionHundred(p) },
        _ => new RuntimeFractionalPercent { DefaultValue = XdsBuild.FractionHundred(100) },
    };

    private static XdsCorsPolicy Cors(ApiCorsPolicy cors)
    {
        var c = new XdsCorsPolicy
        {
            AllowMethods = string.Join(',', cors.AllowMethods ?? []),
            AllowHeaders = string.Join(',', cors.AllowHeaders ?? []),
            ExposeHeaders = string.Join(',', cors.ExposeHeaders ?? []),
            FilterEnabled = new RuntimeFractionalPercent { DefaultValue = XdsBuild.FractionHundred(100) },
        };
        if (cors.MaxAge is { } maxAge)
        {
            c.MaxAge = ((long)maxAge.Value.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (cors.AllowCredentials is { } credentials)
        {
            c.AllowCredentials = credentials;
        }

        foreach (var origin in cors.AllowOrigin ?? [])
        {
            c.AllowOriginStringMatch.Add(new StringMatcher { Exact = origin });
        }

        foreach (var origin in cors.AllowOrigins ?? [])
        {
            if (StringMatcher(origin) is { } sm)
            {
                c.AllowOriginStringMatch.Add(sm);
            }
        }

        return c;
    }

    /// <summary>Header changes: set overwrites, add appends, remove removes; keys in order for stable output.</summary>
    private static void AddHeaders(HeaderManipulation? headers, List<HeaderValueOption> requestAdd, List<string> requestRemove, List<HeaderValueOption> responseAdd, List<string> responseRemove)
    {
        if (headers is null)
        {
            return;
        }

        Add(headers.Request, requestAdd, requestRemove);
        Add(headers.Response, responseAdd, responseRemove);

        static void Add(HeaderOperations? ops, List<HeaderValueOption> add, List<string> remove)
        {
            if (ops is null)
            {
                return;
            }

            foreach (var (k, v) in (ops.Set ?? new Dictionary<string, string>()).OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                add.Add(new HeaderValueOption
                {
                    Header = new HeaderValue { Key = k, Value = v },
                    AppendAction = HeaderValueOption.Types.HeaderAppendAction.OverwriteIfExistsOrAdd,
                });
            }

            foreach (var (k, v) in (ops.Add ?? new Dictionary<string, string>()).OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                add.Add(new HeaderValueOption
                {
                    Header = new HeaderValue { Key = k, Value = v },
                    AppendAction = HeaderValueOption.Types.HeaderAppendAction.AppendIfExistsOrAdd,
                });
            }

            remove.AddRange(ops.Remove ?? []);
        }
    }
}
