using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Skein.Proxy.Protocol;
using Skein.Xds.Envoy.Config.Rbac.V3;
using NetworkRbacConfig = Skein.Xds.Envoy.Extensions.Filters.Network.Rbac.V3.RBAC;

namespace Skein.Proxy.Authz;

/// <summary>
/// A compiled network RBAC filter (<c>envoy.filters.network.rbac</c>) of a filter chain. It decides once per
/// connection, before any byte goes upstream (Envoy's ONE_TIME_ON_FIRST_BYTE; the proxy has the peer
/// identity and the original destination by then); a denied connection is closed.
/// </summary>
internal sealed record NetworkRbacRuntime(string StatPrefix, RbacPolicies? Rules, RbacPolicies? ShadowRules)
{
    public static NetworkRbacRuntime Compile(NetworkRbacConfig config) => new(
        config.StatPrefix,
        config.Rules is null ? null : RbacCompiler.Compile(config.Rules),
        config.ShadowRules is null ? null : RbacCompiler.Compile(config.ShadowRules));
}

/// <summary>Runs the network RBAC filters of a chain, in order, for a new connection.</summary>
internal static partial class NetworkAuthorization
{
    /// <summary>True when every filter lets the connection through; logs denials and audited (LOG) matches.</summary>
    public static bool Allows(ImmutableArray<NetworkRbacRuntime> filters, DownstreamConnection connection, ILogger logger)
    {
        if (filters.IsDefaultOrEmpty)
        {
            return true;
        }

        var input = new RbacInput(connection, null);
        foreach (var f in filters)
        {
            if (f.Rules is not { } rules)
            {
                continue;
            }

            var decision = rules.Evaluate(input);
            if (rules.Action == RBAC.Types.Action.Log && decision.MatchedPolicy is { } audited)
            {
                Log.Audited(logger, connection.ConnectionId, connection.Peer?.SpiffeId ?? "-", audited);
            }

            if (!decision.Allowed)
            {
                Log.Denied(logger, connection.ConnectionId, connection.RemoteEndPoint, connection.Peer?.SpiffeId ?? "-", decision.MatchedPolicy ?? "none");
                return false;
            }
        }

        return true;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 62, Level = LogLevel.Information,
            Message = "Connection {ConnectionId} from {Remote} ({Principal}) closed: rbac_access_denied_matched_policy[{Policy}]")]
        public static partial void Denied(ILogger logger, string connectionId, System.Net.IPEndPoint? remote, string principal, string policy);

        [LoggerMessage(EventId = 63, Level = LogLevel.Information, Message = "RBAC audit: connection {ConnectionId} from {Principal} matched {Policy}")]
        public static partial void Audited(ILogger logger, string connectionId, string principal, string policy);
    }
}
