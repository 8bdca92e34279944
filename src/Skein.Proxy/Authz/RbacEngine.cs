using System.Collections.Immutable;
using System.Net;
using Skein.Proxy.Protocol;
using Skein.Proxy.Routing;
using Skein.Proxy.Runtime;
using Skein.Xds.Envoy.Config.Rbac.V3;
using XdsCidr = Skein.Xds.Envoy.Config.Core.V3.CidrRange;

namespace Skein.Proxy.Authz;

/// <summary>A compiled RBAC rule set (<c>envoy.config.rbac.v3.RBAC</c>).</summary>
internal sealed record RbacPolicies(RBAC.Types.Action Action, ImmutableArray<(string Name, Func<ProxyContext, bool> Matches)> Policies)
{
    /// <summary>True when the request is allowed; <paramref name="matched"/> names the deciding policy.</summary>
    public bool Allows(ProxyContext ctx, out string? matched)
    {
        matched = null;
        foreach (var (name, matches) in Policies)
        {
            if (matches(ctx))
            {
                matched = name;
                break;
            }
        }

        return Action switch
        {
            RBAC.Types.Action.Allow => matched is not null,
            RBAC.Types.Action.Deny => matched is null,
            _ => true, // LOG
        };
    }
}

/// <summary>Compiles RBAC policies into predicates over a request (permissions and principals).</summary>
internal static class RbacCompiler
{
    public static RbacPolicies Compile(RBAC rbac)
    {
        var list = ImmutableArray.CreateBuilder<(string, Func<ProxyContext, bool>)>();
        foreach (var (name, policy) in rbac.Policies.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (policy.Permissions.Count == 0 || policy.Principals.Count == 0)
            {
                throw new ConfigException($"policies[{name}]: permissions and principals are required");
            }

            var permissions = policy.Permissions.Select(Permission).ToArray();
            var principals = policy.Principals.Select(Principal).ToArray();
            list.Add((name, ctx => Any(permissions, ctx) && Any(principals, ctx)));
        }

        return new RbacPolicies(rbac.Action, list.ToImmutable());
    }

    private static bool Any(Func<ProxyContext, bool>[] rules, ProxyContext ctx)
    {
        foreach (var r in rules)
        {
            if (r(ctx))
            {
                return true;
            }
        }

        return false;
    }

    private static bool All(Func<ProxyContext, bool>[] rules, ProxyContext ctx)
    {
        foreach (var r in rules)
        {
            if (!r(ctx))
            {
                return false;
            }
        }

        return true;
    }

    private static Func<ProxyContext, bool> Permission(Permission p)
    {
        switch (p.RuleCase)
        {
            case Skein.Xds.Envoy.Config.Rbac.V3.Permission.RuleOneofCase.AndRules:
                var and = p.AndRules.Rules.Select(Permission).ToArray();
                return ctx => All(and, ctx);
            case Skein.Xds.Envoy.Config.Rbac.V3.Permission.RuleOneofCase.OrRules:
                var or = p.OrRules.Rules.Select(Permission).ToArray();
                return ctx => Any(or, ctx);
            case Skein.Xds.Envoy.Config.Rbac.V3.Permission.RuleOneofCase.Any:
                return _ => p.Any;
            case Skein.Xds.Envoy.Config.Rbac.V3.Permission.RuleOneofCase.Header:
                var header = RuntimeCompiler.CompileHeaderMatch(p.Header);
                return ctx => header.Matches(RouteMatcher.HeaderValue(ctx, header.Name));
            case Skein.Xds.Envoy.Config.Rbac.V3.Permission.RuleOneofCase.UrlPath:
                var path = ProtoValues.String(p.UrlPath.Path);
                return ctx => path.Matches(RouteMatcher.PathOnly(ctx.PathAndQuery));
            case Skein.Xds.Envoy.Config.Rbac.V3.Permission.RuleOneofCase.DestinationIp:
                var dip = Cidr(p.DestinationIp);
                return ctx => Destination(ctx) is { } d && dip.Contains(d.Address);
            case Skein.Xds.Envoy.Config.Rbac.V3.Permission.RuleOneofCase.DestinationPort:
                var port = (int)p.DestinationPort;
                return ctx => Destination(ctx)?.Port == port;
            case Skein.Xds.Envoy.Config.Rbac.V3.Permission.RuleOneofCase.DestinationPortRange:
                var (start, end) = (p.DestinationPortRange.Start, p.DestinationPortRange.End);
                return ctx => Destination(ctx) is { } d && d.Port >= start && d.Port < end;
            case Skein.Xds.Envoy.Config.Rbac.V3.Permission.RuleOneofCase.NotRule:
                var inner = Permission(p.NotRule);
                return ctx => !inner(ctx);
            case Skein.Xds.Envoy.Config.Rbac.V3.Permission.RuleOneofCase.RequestedServerName:
                var sni = ProtoValues.String(p.RequestedServerName);
                return ctx => sni.Matches(ctx.Connection.ServerName ?? string.Empty);
            default:
                throw new ConfigException("permission: a rule is required");
        }
    }

    private static Func<ProxyContext, bool> Principal(Principal p)
    {
        switch (p.IdentifierCase)
        {
            case Skein.Xds.Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.AndIds:
                var and = p.AndIds.Ids.Select(Principal).ToArray();
                return ctx => All(and, ctx);
            case Skein.Xds.Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.OrIds:
                var or = p.OrIds.Ids.Select(Principal).ToArray();
                return ctx => Any(or, ctx);
            case Skein.Xds.Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.Any:
                return _ => p.Any;
            case Skein.Xds.Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.Authenticated:
                // Matches the peer certificate's URI SAN (the full SPIFFE id); no peer certificate never matches.
                var name = p.Authenticated.PrincipalName is null ? null : ProtoValues.String(p.Authenticated.PrincipalName);
                return ctx => ctx.Connection.Peer is { } peer && (name is null || name.Matches(peer.SpiffeId));
            case Skein.Xds.Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.DirectRemoteIp:
            case Skein.Xds.Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.RemoteIp:
                var ip = Cidr(p.IdentifierCase == Skein.Xds.Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.RemoteIp ? p.RemoteIp : p.DirectRemoteIp);
                return ctx => ctx.Connection.RemoteEndPoint is { } r && ip.Contains(r.Address);
            case Skein.Xds.Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.Header:
                var header = RuntimeCompiler.CompileHeaderMatch(p.Header);
                return ctx => header.Matches(RouteMatcher.HeaderValue(ctx, header.Name));
            case Skein.Xds.Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.UrlPath:
                var path = ProtoValues.String(p.UrlPath.Path);
                return ctx => path.Matches(RouteMatcher.PathOnly(ctx.PathAndQuery));
            case Skein.Xds.Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase.NotId:
                var inner = Principal(p.NotId);
                return ctx => !inner(ctx);
            default:
                throw new ConfigException("principal: an identifier is required");
        }
    }

    private static IPEndPoint? Destination(ProxyContext ctx) => ctx.Connection.OriginalDestination ?? ctx.Connection.LocalEndPoint;

    private static Runtime.CidrRange Cidr(XdsCidr c)
    {
        if (!IPAddress.TryParse(c.AddressPrefix, out var ip))
        {
            throw new ConfigException($"invalid CIDR prefix \"{c.AddressPrefix}\"");
        }

        var max = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
        return new Runtime.CidrRange(ip, (int)(c.PrefixLen ?? (uint)max));
    }
}
