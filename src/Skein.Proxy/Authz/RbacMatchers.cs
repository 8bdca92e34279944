using System.Net;
using Skein.Proxy.Routing;
using Skein.Proxy.Runtime;
using Skein.Xds.Envoy.Config.Rbac.V3;
using PermissionCase = Skein.Xds.Envoy.Config.Rbac.V3.Permission.RuleOneofCase;
using PrincipalCase = Skein.Xds.Envoy.Config.Rbac.V3.Principal.IdentifierOneofCase;
using XdsCidr = Skein.Xds.Envoy.Config.Core.V3.CidrRange;

namespace Skein.Proxy.Authz;

/// <summary>
/// Envoy's RBAC permission and principal matchers. Without an HTTP request (network RBAC) header and path
/// matchers see no headers, as Envoy's network filter does; principals that need a peer certificate never
/// match a connection without one.
/// </summary>
internal static class RbacMatchers
{
    public static Func<RbacInput, bool> Permission(Permission p)
    {
        switch (p.RuleCase)
        {
            case PermissionCase.AndRules:
                var and = p.AndRules.Rules.Select(Permission).ToArray();
                return input => All(and, input);
            case PermissionCase.OrRules:
                var or = p.OrRules.Rules.Select(Permission).ToArray();
                return input => Any(or, input);
            case PermissionCase.Any:
                var any = p.Any;
                return _ => any;
            case PermissionCase.Header:
                return Header(RuntimeCompiler.CompileHeaderMatch(p.Header));
            case PermissionCase.UrlPath:
                return UrlPath(p.UrlPath);
            case PermissionCase.DestinationIp:
                var dip = Cidr(p.DestinationIp);
                return input => Destination(input) is { } d && dip.Contains(d.Address);
            case PermissionCase.DestinationPort:
                var port = (int)p.DestinationPort;
                return input => Destination(input)?.Port == port;
            case PermissionCase.DestinationPortRange:
                var (start, end) = (p.DestinationPortRange.Start, p.DestinationPortRange.End);
                return input => Destination(input) is { } d && d.Port >= start && d.Port < end;
            case PermissionCase.NotRule:
                var inner = Permission(p.NotRule);
                return input => !inner(input);
            case PermissionCase.RequestedServerName:
                var sni = ProtoValues.String(p.RequestedServerName);
                return input => sni.Matches(input.Connection.ServerName ?? string.Empty);
            default:
                throw new ConfigException("permission: a rule is required");
        }
    }

    public static Func<RbacInput, bool> Principal(Principal p)
    {
        switch (p.IdentifierCase)
        {
            case PrincipalCase.AndIds:
                var and = p.AndIds.Ids.Select(Principal).ToArray();
                return input => All(and, input);
            case PrincipalCase.OrIds:
                var or = p.OrIds.Ids.Select(Principal).ToArray();
                return input => Any(or, input);
            case PrincipalCase.Any:
                var any = p.Any;
                return _ => any;
            case PrincipalCase.Authenticated:
                return Authenticated(p.Authenticated);
            case PrincipalCase.DirectRemoteIp:
                var direct = Cidr(p.DirectRemoteIp);
                return input => input.Connection.RemoteEndPoint is { } r && direct.Contains(r.Address);
            case PrincipalCase.RemoteIp:
                var remote = Cidr(p.RemoteIp);
                return input => RemoteAddress(input) is { } r && remote.Contains(r);
            case PrincipalCase.Header:
                return Header(RuntimeCompiler.CompileHeaderMatch(p.Header));
            case PrincipalCase.UrlPath:
                return UrlPath(p.UrlPath);
            case PrincipalCase.NotId:
                var inner = Principal(p.NotId);
                return input => !inner(input);
            default:
                throw new ConfigException("principal: an identifier is required");
        }
    }

    public static bool Any(Func<RbacInput, bool>[] rules, in RbacInput input)
    {
        foreach (var r in rules)
        {
            if (r(input))
            {
                return true;
            }
        }

        return false;
    }

    private static bool All(Func<RbacInput, bool>[] rules, in RbacInput input)
    {
        foreach (var r in rules)
        {
            if (!r(input))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The peer certificate's SPIFFE id (its URI SAN), then its other SANs, as Envoy tries URI, DNS, then
    /// subject. No principal name means "any authenticated peer"; a connection without a peer never matches.
    /// </summary>
    private static Func<RbacInput, bool> Authenticated(Principal.Types.Authenticated a)
    {
        if (a.PrincipalName is null)
        {
            return input => input.Connection.Peer is not null;
        }

        var name = ProtoValues.String(a.PrincipalName);
        return input =>
        {
            if (input.Connection.Peer is not { } peer)
            {
                return false;
            }

            if (name.Matches(peer.SpiffeId))
            {
                return true;
            }

            foreach (var san in peer.SubjectAltNames)
            {
                if (name.Matches(san))
                {
                    return true;
                }
            }

            return false;
        };
    }

    private static Func<RbacInput, bool> Header(HeaderMatch header) =>
        input => header.Matches(input.Http is { } http ? RouteMatcher.HeaderValue(http, header.Name) : null);

    /// <summary>The path without query (already normalised by the request handler); never matches without HTTP.</summary>
    private static Func<RbacInput, bool> UrlPath(Skein.Xds.Envoy.Type.Matcher.V3.PathMatcher m)
    {
        var path = ProtoValues.String(m.Path ?? throw new ConfigException("url_path: path is required"));
        return input => input.Http is { } http && path.Matches(RouteMatcher.PathOnly(http.PathAndQuery));
    }

    private static IPEndPoint? Destination(in RbacInput input) =>
        input.Connection.OriginalDestination ?? input.Connection.LocalEndPoint;

    /// <summary>
    /// Envoy's remote address on a sidecar (use_remote_address false, no trusted hops): the last address of
    /// X-Forwarded-For when the request carries one, else the connection's peer address.
    /// </summary>
    private static IPAddress? RemoteAddress(in RbacInput input)
    {
        if (input.Http?.Http.Request.Headers["x-forwarded-for"] is { Count: > 0 } xff)
        {
            var last = xff[^1] ?? string.Empty;
            var comma = last.LastIndexOf(',');
            var candidate = (comma >= 0 ? last[(comma + 1)..] : last).Trim();
            if (IPAddress.TryParse(candidate, out var ip))
            {
                return ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip;
            }
        }

        return input.Connection.RemoteEndPoint?.Address;
    }

    private static Runtime.CidrRange Cidr(XdsCidr c)
    {
        if (!IPAddress.TryParse(c.AddressPrefix, out var ip))
        {
            throw new ConfigException($"invalid CIDR prefix \"{c.AddressPrefix}\"");
        }

        var max = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
        var length = (int)(c.PrefixLen ?? (uint)max);
        if (length > max)
        {
            throw new ConfigException($"invalid prefix length {length} for {c.AddressPrefix}");
        }

        return new Runtime.CidrRange(ip, length);
    }
}
