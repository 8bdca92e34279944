using System.Globalization;
using System.Net;
using System.Text;
using Skein.Api.Model;
using Skein.Api.Naming;
using Skein.ControlPlane.Mesh;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Rbac.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Skein.Xds.Envoy.Type.Matcher.V3;
using CoreCidr = Skein.Xds.Envoy.Config.Core.V3.CidrRange;
using HeaderMatcher = Skein.Xds.Envoy.Config.Route.V3.HeaderMatcher;
using HttpRbac = Skein.Xds.Envoy.Extensions.Filters.Http.Rbac.V3.RBAC;
using NetworkRbac = Skein.Xds.Envoy.Extensions.Filters.Network.Rbac.V3.RBAC;

namespace Skein.ControlPlane.Translation;

/// <summary>
/// AuthorizationPolicy to Envoy RBAC, as Istio's authz builder does it: the policies that select a workload
/// (root namespace: every workload; own namespace: all, or those its selector matches) become an AUDIT (LOG),
/// a DENY and an ALLOW rule set, in that order, each policy rule named <c>ns[NS]-policy[NAME]-rule[I]</c>.
/// HTTP ports get <c>envoy.filters.http.rbac</c> filters before the router; TCP ports (and the inbound
/// passthrough chain) get <c>envoy.filters.network.rbac</c> before <c>tcp_proxy</c>. On TCP, a rule using an
/// HTTP-only attribute is dropped from ALLOW (it can never match) and the attribute is ignored for DENY and
/// AUDIT (the rule matches more), so TCP fails closed either way. CUSTOM and targetRef policies are skipped
/// (analyze reports them). JWT attributes have no issuer to check: their values never match, not-values always do.
/// </summary>
internal static class AuthorizationGenerator
{
    public const string HttpFilterName = "envoy.filters.http.rbac";
    public const string NetworkFilterName = "envoy.filters.network.rbac";
    private const string TcpStatPrefix = "tcp.";

    /// <summary>The HTTP RBAC filters for an inbound HTTP connection manager (none when no policy applies).</summary>
    public static IEnumerable<HttpFilter> HttpFilters(MeshSnapshot snapshot, ResolvedProxy proxy)
    {
        foreach (var rules in RuleSets(snapshot, proxy, forTcp: false))
        {
            yield return new HttpFilter { Name = HttpFilterName, TypedConfig = XdsAny.Pack(new HttpRbac { Rules = rules }, TypeUrls.HttpRbac) };
        }
    }

    /// <summary>Puts the network RBAC filters in front of every <c>tcp_proxy</c> chain of the inbound listener.</summary>
    public static void AddNetworkFilters(MeshSnapshot snapshot, ResolvedProxy proxy, Listener inbound)
    {
        var filters = RuleSets(snapshot, proxy, forTcp: true)
            .Select(rules => new Filter { Name = NetworkFilterName, TypedConfig = XdsAny.Pack(new NetworkRbac { Rules = rules, StatPrefix = TcpStatPrefix }, TypeUrls.NetworkRbac) })
            .ToList();
        if (filters.Count == 0)
        {
            return;
        }

        foreach (var chain in inbound.FilterChains.Append(inbound.DefaultFilterChain))
        {
            if (chain is { Filters: [.., { Name: FilterNames.TcpProxy }] })
            {
                for (var i = 0; i < filters.Count; i++)
                {
                    chain.Filters.Insert(i, filters[i].Clone());
                }
            }
        }
    }

    /// <summary>The policies that apply to the proxy's workload, by namespace then name.</summary>
    internal static List<AuthorizationPolicy> Applicable(MeshSnapshot snapshot, ResolvedProxy proxy) =>
        [.. snapshot.AuthorizationPolicies
            .Where(p => p.Spec is { } spec && spec.Action != AuthorizationAction.Custom && spec.TargetRef is null && spec.TargetRefs is not { Count: > 0 })
            .Where(p => (p.Namespace == proxy.Namespace || MeshConventions.RootNamespaces.Contains(p.Namespace))
                && (p.Spec!.Selector?.MatchLabels is not { } labels || MeshConventions.Selects(labels, proxy.Labels)))
            .OrderBy(p => p.Namespace, StringComparer.Ordinal).ThenBy(p => p.Name, StringComparer.Ordinal)];

    /// <summary>AUDIT (LOG), DENY and ALLOW rule sets, in the order the filters run; an action without policies has none.</summary>
    internal static IEnumerable<RBAC> RuleSets(MeshSnapshot snapshot, ResolvedProxy proxy, bool forTcp)
    {
        var policies = Applicable(snapshot, proxy);
        foreach (var (action, rbacAction) in new[]
        {
            (AuthorizationAction.Audit, RBAC.Types.Action.Log),
            (AuthorizationAction.Deny, RBAC.Types.Action.Deny),
            (AuthorizationAction.Allow, RBAC.Types.Action.Allow),
        })
        {
            var selected = policies.Where(p => (p.Spec!.Action ?? AuthorizationAction.Allow) == action).ToList();
            if (selected.Count > 0)
            {
                yield return Build(selected, rbacAction, forTcp);
            }
        }
    }

    /// <summary>One rule set; an ALLOW set whose rules were all dropped for TCP keeps no policy and so denies all.</summary>
    internal static RBAC Build(IEnumerable<AuthorizationPolicy> policies, RBAC.Types.Action action, bool forTcp)
    {
        var rbac = new RBAC { Action = action };
        foreach (var policy in policies)
        {
            var rules = policy.Spec!.Rules;
            if (rules is not { Count: > 0 })
            {
                rbac.Policies[Name(policy, 0)] = MatchNever();
                continue;
            }

            for (var i = 0; i < rules.Count; i++)
            {
                if (new RuleTranslator(policy.Namespace, action, forTcp).Translate(rules[i]) is { } translated)
                {
                    rbac.Policies[Name(policy, i)] = translated;
                }
            }
        }

        return rbac;
    }

    internal static string Name(AuthorizationPolicy policy, int rule) =>
        string.Create(CultureInfo.InvariantCulture, $"ns[{policy.Namespace}]-policy[{policy.Name}]-rule[{rule}]");

    /// <summary>Istio's policy for "no rules": never matches (so an ALLOW policy without rules allows nothing).</summary>
    private static Policy MatchNever() => new()
    {
        Permissions = { new Permission { NotRule = new Permission { Any = true } } },
        Principals = { new Principal { NotId = new Principal { Any = true } } },
    };

    /// <summary>Translates one rule; null when it must be dropped (an HTTP-only attribute in an ALLOW rule on TCP).</summary>
    private sealed class RuleTranslator(string policyNamespace, RBAC.Types.Action action, bool forTcp)
    {
        private bool _dropped;

        public Policy? Translate(AuthorizationRule rule)
        {
            // Conditions are shared by every source (principal side) or every operation (permission side).
            var whenPrincipals = new List<Principal>();
            var whenPermissions = new List<Permission>();
            foreach (var c in rule.When ?? [])
            {
                Condition(c, whenPrincipals, whenPermissions);
            }

            var policy = new Policy();
            foreach (var from in rule.From ?? [])
            {
                var and = Source(from.Source!);
                and.AddRange(whenPrincipals.Select(p => p.Clone()));
                policy.Principals.Add(new Principal { AndIds = new Principal.Types.Set { Ids = { Or(and, new Principal { Any = true }) } } });
            }

            if (rule.From is not { Count: > 0 })
            {
                policy.Principals.Add(new Principal { AndIds = new Principal.Types.Set { Ids = { Or(whenPrincipals, new Principal { Any = true }) } } });
            }

            foreach (var to in rule.To ?? [])
            {
                var and = Operation(to.Operation!);
                and.AddRange(whenPermissions.Select(p => p.Clone()));
                policy.Permissions.Add(new Permission { AndRules = new Permission.Types.Set { Rules = { Or(and, new Permission { Any = true }) } } });
            }

            if (rule.To is not { Count: > 0 })
            {
                policy.Permissions.Add(new Permission { AndRules = new Permission.Types.Set { Rules = { Or(whenPermissions, new Permission { Any = true }) } } });
            }

            return _dropped ? null : policy;
        }

        private static List<T> Or<T>(List<T> items, T fallback) => items.Count > 0 ? items : [fallback];

        private List<Principal> Source(AuthorizationSource s)
        {
            var and = new List<Principal>();
            AddPrincipal(and, s.Principals, s.NotPrincipals, PrincipalMatcher, httpOnly: false);
            AddPrincipal(and, s.ServiceAccounts, s.NotServiceAccounts, ServiceAccountMatcher, httpOnly: false);
            AddPrincipal(and, s.RequestPrincipals, s.NotRequestPrincipals, _ => NoJwt(), httpOnly: true);
            AddPrincipal(and, s.Namespaces, s.NotNamespaces, NamespaceMatcher, httpOnly: false);
            AddPrincipal(and, s.RemoteIpBlocks, s.NotRemoteIpBlocks, v => new Principal { RemoteIp = Cidr(v) }, httpOnly: false);
            AddPrincipal(and, s.IpBlocks, s.NotIpBlocks, v => new Principal { DirectRemoteIp = Cidr(v) }, httpOnly: false);
            return and;
        }

        private List<Permission> Operation(AuthorizationOperation o)
        {
            var and = new List<Permission>();
            AddPermission(and, o.Hosts, o.NotHosts, HostMatcher, httpOnly: true);
            AddPermission(and, o.Methods, o.NotMethods, v => new Permission { Header = Header(":method", v) }, httpOnly: true);
            AddPermission(and, o.Paths, o.NotPaths, PathMatcher, httpOnly: true);
            AddPermission(and, o.Ports, o.NotPorts, v => new Permission { DestinationPort = uint.Parse(v, CultureInfo.InvariantCulture) }, httpOnly: false);
            return and;
        }

        private void Condition(AuthorizationCondition c, List<Principal> principals, List<Permission> permissions)
        {
            var key = c.Key!;
            switch (key)
            {
                case "destination.ip":
                    AddPermission(permissions, c.Values, c.NotValues, v => new Permission { DestinationIp = Cidr(v) }, httpOnly: false);
                    break;
                case "destination.port":
                    AddPermission(permissions, c.Values, c.NotValues, v => new Permission { DestinationPort = uint.Parse(v, CultureInfo.InvariantCulture) }, httpOnly: false);
                    break;
                case "connection.sni":
                    AddPermission(permissions, c.Values, c.NotValues, v => new Permission { RequestedServerName = StringMatch(v) }, httpOnly: false);
                    break;
                case "source.ip":
                    AddPrincipal(principals, c.Values, c.NotValues, v => new Principal { DirectRemoteIp = Cidr(v) }, httpOnly: false);
                    break;
                case "remote.ip":
                    AddPrincipal(principals, c.Values, c.NotValues, v => new Principal { RemoteIp = Cidr(v) }, httpOnly: false);
                    break;
                case "source.namespace":
                    AddPrincipal(principals, c.Values, c.NotValues, NamespaceMatcher, httpOnly: false);
                    break;
                case "source.principal":
                    AddPrincipal(principals, c.Values, c.NotValues, PrincipalMatcher, httpOnly: false);
                    break;
                case var _ when key.StartsWith("request.headers[", StringComparison.Ordinal):
                    var name = key["request.headers[".Length..^1];
                    AddPrincipal(principals, c.Values, c.NotValues, v => new Principal { Header = Header(name, v) }, httpOnly: true);
                    break;
                case var _ when key.StartsWith("request.auth.", StringComparison.Ordinal):
                    AddPrincipal(principals, c.Values, c.NotValues, _ => NoJwt(), httpOnly: true);
                    break;
                default:
                    // experimental.envoy.filters.*: no filter writes such metadata in Skein, so values never match.
                    AddPermission(permissions, c.Values, c.NotValues, _ => new Permission { NotRule = new Permission { Any = true } }, httpOnly: false);
                    break;
            }
        }

        /// <summary>Values become or(...), not-values not(or(...)); HTTP-only attributes on TCP drop the rule (ALLOW) or themselves.</summary>
        private void AddPrincipal(List<Principal> and, IReadOnlyList<string>? values, IReadOnlyList<string>? notValues, Func<string, Principal> make, bool httpOnly)
        {
            if (Skip(values, notValues, httpOnly))
            {
                return;
            }

            if (values is { Count: > 0 })
            {
                and.Add(new Principal { OrIds = new Principal.Types.Set { Ids = { values.Select(make) } } });
            }

            if (notValues is { Count: > 0 })
            {
                and.Add(new Principal { NotId = new Principal { OrIds = new Principal.Types.Set { Ids = { notValues.Select(make) } } } });
            }
        }

        private void AddPermission(List<Permission> and, IReadOnlyList<string>? values, IReadOnlyList<string>? notValues, Func<string, Permission> make, bool httpOnly)
        {
            if (Skip(values, notValues, httpOnly))
            {
                return;
            }

            if (values is { Count: > 0 })
            {
                and.Add(new Permission { OrRules = new Permission.Types.Set { Rules = { values.Select(make) } } });
            }

            if (notValues is { Count: > 0 })
            {
                and.Add(new Permission { NotRule = new Permission { OrRules = new Permission.Types.Set { Rules = { notValues.Select(make) } } } });
            }
        }

        private bool Skip(IReadOnlyList<string>? values, IReadOnlyList<string>? notValues, bool httpOnly)
        {
            if (values is not { Count: > 0 } && notValues is not { Count: > 0 })
            {
                return true;
            }

            if (httpOnly && forTcp)
            {
                _dropped |= action == RBAC.Types.Action.Allow;
                return true;
            }

            return false;
        }

        private static Principal PrincipalMatcher(string value) =>
            new() { Authenticated = new Principal.Types.Authenticated { PrincipalName = StringMatch(value, "spiffe://") } };

        /// <summary>The ns segment of the peer's SPIFFE id (so only mTLS peers have a namespace).</summary>
        private static Principal NamespaceMatcher(string value) => new()
        {
            Authenticated = new Principal.Types.Authenticated { PrincipalName = Regex($".*/ns/{Glob(value)}/.*") },
        };

        /// <summary><c>NAMESPACE/ACCOUNT</c>, or <c>ACCOUNT</c> in the policy's namespace, anywhere in the trust domain.</summary>
        private Principal ServiceAccountMatcher(string value)
        {
            var slash = value.IndexOf('/', StringComparison.Ordinal);
            var (ns, sa) = slash < 0 ? (policyNamespace, value) : (value[..slash], value[(slash + 1)..]);
            return new Principal
            {
                Authenticated = new Principal.Types.Authenticated { PrincipalName = Regex($"spiffe://.+/ns/{Escape(ns)}/(.+/|)sa/{Escape(sa)}(/.+)?") },
            };
        }

        private static Principal NoJwt() => new() { NotId = new Principal { Any = true } };

        private static Permission HostMatcher(string value) => value == "*"
            ? new Permission { Header = new HeaderMatcher { Name = ":authority", PresentMatch = true } }
            : new Permission { Header = new HeaderMatcher { Name = ":authority", StringMatch = WithIgnoreCase(StringMatch(value)) } };

        private static Permission PathMatcher(string value) => new()
        {
            UrlPath = new PathMatcher { Path = value.Contains('{', StringComparison.Ordinal) ? Regex(TemplateRegex(value)) : StringMatch(value) },
        };

        private static HeaderMatcher Header(string name, string value) => value == "*"
            ? new HeaderMatcher { Name = name, PresentMatch = true }
            : new HeaderMatcher { Name = name, StringMatch = StringMatch(value) };

        private static StringMatcher WithIgnoreCase(StringMatcher m)
        {
            m.IgnoreCase = true;
            return m;
        }

        private static CoreCidr Cidr(string value)
        {
            var slash = value.IndexOf('/', StringComparison.Ordinal);
            var address = slash < 0 ? value : value[..slash];
            var ip = IPAddress.Parse(address);
            var length = slash < 0
                ? (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32u : 128u)
                : uint.Parse(value.AsSpan(slash + 1), CultureInfo.InvariantCulture);
            return new CoreCidr { AddressPrefix = address, PrefixLen = length };
        }
    }

    /// <summary>Istio's string rule: "*" any non-empty value, "x*" prefix, "*x" suffix, else exact (with an optional prefix).</summary>
    internal static StringMatcher StringMatch(string value, string prefix = "")
    {
        if (value == "*")
        {
            return Regex(".+");
        }

        if (value.StartsWith('*'))
        {
            return prefix.Length == 0 ? new StringMatcher { Suffix = value[1..] } : Regex(Escape(prefix) + ".*" + Escape(value[1..]));
        }

        return value.EndsWith('*') ? new StringMatcher { Prefix = prefix + value[..^1] } : new StringMatcher { Exact = prefix + value };
    }

    private static StringMatcher Regex(string regex) => new() { SafeRegex = new RegexMatcher { Regex = regex } };

    /// <summary>"{*}" one path segment, "{**}" the rest of the path (Istio's path templates), literals escaped.</summary>
    private static string TemplateRegex(string template)
    {
        var sb = new StringBuilder();
        var segments = template.Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            if (i > 0)
            {
                sb.Append('/');
            }

            sb.Append(segments[i] switch
            {
                "{*}" => "[^/]+",
                "{**}" => ".*",
                var literal => Escape(literal),
            });
        }

        return sb.ToString();
    }

    private static string Glob(string value) => string.Join(".*", value.Split('*').Select(Escape));

    private static string Escape(string literal)
    {
        var sb = new StringBuilder(literal.Length);
        foreach (var c in literal)
        {
            if (@"\.+*?()|[]{}^$".Contains(c, StringComparison.Ordinal))
            {
                sb.Append('\\');
            }

            sb.Append(c);
        }

        return sb.ToString();
    }
}
