using System.Net;
using System.Text.RegularExpressions;
using Skein.ControlPlane.Translation;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Rbac.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Skein.Xds.Envoy.Type.Matcher.V3;
using HeaderMatcher = Skein.Xds.Envoy.Config.Route.V3.HeaderMatcher;
using HttpRbac = Skein.Xds.Envoy.Extensions.Filters.Http.Rbac.V3.RBAC;
using NetworkRbac = Skein.Xds.Envoy.Extensions.Filters.Network.Rbac.V3.RBAC;

namespace Skein.ControlPlane.Tests.Translation;

/// <summary>A call as the destination's inbound listener sees it; <c>Principal</c> is the peer's SPIFFE id (mTLS) or null.</summary>
internal sealed record SimCall(
    int Port = 9080,
    string Path = "/",
    string Method = "GET",
    string Host = "reviews.default.svc.cluster.local",
    string? Principal = null,
    string SourceIp = "198.18.1.10",
    string? ForwardedFor = null,
    string DestinationIp = "198.18.1.20",
    string? Sni = null,
    IReadOnlyDictionary<string, string>? Headers = null);

/// <summary>The verdict, the action that decided and the policy that matched.</summary>
internal sealed record SimVerdict(bool Allowed, string? DecidedBy, string? Policy);

/// <summary>
/// Evaluates the RBAC filters of a generated inbound chain as Envoy would (Istio's simulation style): every
/// filter in order, first DENY or ALLOW that refuses decides. HTTP ports run the HCM's RBAC filters, TCP ports the
/// network RBAC filters, which see no HTTP request.
/// </summary>
internal static class RbacSimulator
{
    public static SimVerdict Inbound(ProxyResources resources, SimCall call)
    {
        var listener = (Listener)resources.Listeners.ByName["virtualInbound"].Message;
        var chain = listener.FilterChains.FirstOrDefault(c => c.FilterChainMatch?.DestinationPort == (uint)call.Port
            && c.FilterChainMatch.TransportProtocol is "" or "raw_buffer")
            ?? listener.DefaultFilterChain;
        var sets = new List<RBAC>();
        var http = false;
        foreach (var f in chain.Filters)
        {
            if (f.Name == AuthorizationGenerator.NetworkFilterName)
            {
                sets.Add(f.TypedConfig.Unpack<NetworkRbac>().Rules);
            }
            else if (f.Name == FilterNames.HttpConnectionManager)
            {
                http = true;
                var hcm = f.TypedConfig.Unpack<HttpConnectionManager>();
                sets.AddRange(hcm.HttpFilters.Where(h => h.Name == AuthorizationGenerator.HttpFilterName).Select(h => h.TypedConfig.Unpack<HttpRbac>().Rules));
            }
        }

        var input = new Input(call, http);
        foreach (var rbac in sets)
        {
            var matched = rbac.Policies.OrderBy(p => p.Key, StringComparer.Ordinal)
                .FirstOrDefault(p => p.Value.Permissions.Any(x => Permits(x, input)) && p.Value.Principals.Any(x => Identifies(x, input))).Key;
            if (rbac.Action == RBAC.Types.Action.Deny && matched is not null)
            {
                return new SimVerdict(false, "DENY", matched);
            }

            if (rbac.Action == RBAC.Types.Action.Allow && matched is null)
            {
                return new SimVerdict(false, "ALLOW", null);
            }
        }

        return new SimVerdict(true, null, null);
    }

    private sealed record Input(SimCall Call, bool Http);

    private static bool Permits(Permission p, Input i) => p.RuleCase switch
    {
        Permission.RuleOneofCase.AndRules => p.AndRules.Rules.All(r => Permits(r, i)),
        Permission.RuleOneofCase.OrRules => p.OrRules.Rules.Any(r => Permits(r, i)),
        Permission.RuleOneofCase.Any => p.Any,
        Permission.RuleOneofCase.Header => Header(p.Header, i),
        Permission.RuleOneofCase.UrlPath => i.Http && Str(p.UrlPath.Path, i.Call.Path.Split('?')[0]),
        Permission.RuleOneofCase.DestinationIp => InCidr(i.Call.DestinationIp, p.DestinationIp),
        Permission.RuleOneofCase.DestinationPort => p.DestinationPort == (uint)i.Call.Port,
        Permission.RuleOneofCase.NotRule => !Permits(p.NotRule, i),
        Permission.RuleOneofCase.RequestedServerName => Str(p.RequestedServerName, i.Call.Sni ?? string.Empty),
        _ => throw new InvalidOperationException($"unsupported permission {p.RuleCase}"),
    };

    private static bool Identifies(Principal p, Input i) => p.IdentifierCase switch
    {
        Principal.IdentifierOneofCase.AndIds => p.AndIds.Ids.All(r => Identifies(r, i)),
        Principal.IdentifierOneofCase.OrIds => p.OrIds.Ids.Any(r => Identifies(r, i)),
        Principal.IdentifierOneofCase.Any => p.Any,
        Principal.IdentifierOneofCase.Authenticated => i.Call.Principal is { } peer && (p.Authenticated.PrincipalName is null || Str(p.Authenticated.PrincipalName, peer)),
        Principal.IdentifierOneofCase.DirectRemoteIp => InCidr(i.Call.SourceIp, p.DirectRemoteIp),
        Principal.IdentifierOneofCase.RemoteIp => InCidr(i.Http && i.Call.ForwardedFor is { } xff ? xff.Split(',')[^1].Trim() : i.Call.SourceIp, p.RemoteIp),
        Principal.IdentifierOneofCase.Header => Header(p.Header, i),
        Principal.IdentifierOneofCase.NotId => !Identifies(p.NotId, i),
        _ => throw new InvalidOperationException($"unsupported principal {p.IdentifierCase}"),
    };

    private static bool Header(HeaderMatcher h, Input i)
    {
        string? value = !i.Http ? null : h.Name switch
        {
            ":method" => i.Call.Method,
            ":authority" => i.Call.Host,
            ":path" => i.Call.Path,
            _ => i.Call.Headers?.GetValueOrDefault(h.Name),
        };
        var result = h.HeaderMatchSpecifierCase switch
        {
            HeaderMatcher.HeaderMatchSpecifierOneofCase.PresentMatch => (value is not null) == h.PresentMatch,
            HeaderMatcher.HeaderMatchSpecifierOneofCase.StringMatch => value is not null && Str(h.StringMatch, value),
            _ => throw new InvalidOperationException($"unsupported header matcher {h.HeaderMatchSpecifierCase}"),
        };
        return result != h.InvertMatch;
    }

    private static bool Str(StringMatcher m, string value)
    {
        var comparison = m.IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return m.MatchPatternCase switch
        {
            StringMatcher.MatchPatternOneofCase.Exact => string.Equals(value, m.Exact, comparison),
            StringMatcher.MatchPatternOneofCase.Prefix => value.StartsWith(m.Prefix, comparison),
            StringMatcher.MatchPatternOneofCase.Suffix => value.EndsWith(m.Suffix, comparison),
            StringMatcher.MatchPatternOneofCase.Contains => value.Contains(m.Contains, comparison),
            StringMatcher.MatchPatternOneofCase.SafeRegex => Regex.IsMatch(value, "^(?:" + m.SafeRegex.Regex + ")$", RegexOptions.None, TimeSpan.FromSeconds(1)),
            _ => throw new InvalidOperationException("string matcher without pattern"),
        };
    }

    private static bool InCidr(string address, Skein.Xds.Envoy.Config.Core.V3.CidrRange cidr)
    {
        var a = IPAddress.Parse(address).GetAddressBytes();
        var p = IPAddress.Parse(cidr.AddressPrefix).GetAddressBytes();
        if (a.Length != p.Length)
        {
            return false;
        }

        var bits = (int)(cidr.PrefixLen ?? (uint)(a.Length * 8));
        for (var i = 0; i < a.Length && bits > 0; i++, bits -= 8)
        {
            var mask = bits >= 8 ? 0xFF : (byte)(0xFF << (8 - bits));
            if ((a[i] & mask) != (p[i] & mask))
            {
                return false;
            }
        }

        return true;
    }
}
