using System.Collections.Immutable;
using Skein.Proxy.Protocol;
using Skein.Xds.Envoy.Config.Rbac.V3;

namespace Skein.Proxy.Authz;

/// <summary>
/// What an RBAC decision looks at: the downstream connection always, the HTTP request when there is one
/// (the HTTP filter), none for the network filter (headers and paths are then absent, as in Envoy).
/// </summary>
internal readonly record struct RbacInput(DownstreamConnection Connection, ProxyContext? Http);

/// <summary>The outcome of evaluating an RBAC rule set: allowed or not, and the policy that matched (if any).</summary>
internal readonly record struct RbacDecision(bool Allowed, string? MatchedPolicy);

/// <summary>
/// A compiled RBAC rule set (<c>envoy.config.rbac.v3.RBAC</c>). Policies are tried in lexicographic order of
/// their names, as Envoy does, and the first match decides: ALLOW lets matching requests through (and nothing
/// else), DENY stops matching requests, LOG lets everything through and only reports the match (Istio's AUDIT).
/// </summary>
internal sealed record RbacPolicies(RBAC.Types.Action Action, ImmutableArray<(string Name, Func<RbacInput, bool> Matches)> Policies)
{
    public RbacDecision Evaluate(in RbacInput input)
    {
        string? matched = null;
        foreach (var (name, matches) in Policies)
        {
            if (matches(input))
            {
                matched = name;
                break;
            }
        }

        var allowed = Action switch
        {
            RBAC.Types.Action.Allow => matched is not null,
            RBAC.Types.Action.Deny => matched is null,
            _ => true, // LOG
        };
        return new RbacDecision(allowed, matched);
    }
}

/// <summary>Compiles RBAC rule sets into predicates (<see cref="RbacMatchers"/> holds the matchers).</summary>
internal static class RbacCompiler
{
    public static RbacPolicies Compile(RBAC rbac)
    {
        var list = ImmutableArray.CreateBuilder<(string, Func<RbacInput, bool>)>();
        foreach (var (name, policy) in rbac.Policies.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (policy.Permissions.Count == 0 || policy.Principals.Count == 0)
            {
                throw new Runtime.ConfigException($"policies[{name}]: permissions and principals are required");
            }

            Func<RbacInput, bool>[] permissions;
            Func<RbacInput, bool>[] principals;
            try
            {
                permissions = [.. policy.Permissions.Select(RbacMatchers.Permission)];
                principals = [.. policy.Principals.Select(RbacMatchers.Principal)];
            }
            catch (Runtime.ConfigException e)
            {
                throw new Runtime.ConfigException($"policies[{name}]: {e.Message}");
            }

            list.Add((name, input => RbacMatchers.Any(permissions, input) && RbacMatchers.Any(principals, input)));
        }

        return new RbacPolicies(rbac.Action, list.ToImmutable());
    }
}
