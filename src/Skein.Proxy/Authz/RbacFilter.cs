using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Skein.Proxy.Protocol;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Rbac.V3;
using HttpRbac = Skein.Xds.Envoy.Extensions.Filters.Http.Rbac.V3.RBAC;
using HttpRbacPerRoute = Skein.Xds.Envoy.Extensions.Filters.Http.Rbac.V3.RBACPerRoute;

namespace Skein.Proxy.Authz;

/// <summary>A compiled HTTP RBAC filter config; null rules disable enforcement (shadow rules are only logged).</summary>
internal sealed record RbacFilterConfig(RbacPolicies? Rules, RbacPolicies? ShadowRules);

/// <summary>
/// HTTP RBAC (<c>envoy.filters.http.rbac</c>): 403 <c>RBAC: access denied</c> with flag RBAC when the rules
/// deny; LOG rules (Istio's AUDIT) let the request through and log the match. Principals that need a peer
/// identity (<c>authenticated</c>) match once mTLS fills <see cref="DownstreamConnection.Peer"/>.
/// </summary>
internal sealed partial class RbacFilterFactory(ILogger<RbacFilterFactory> logger) : IHttpFilterFactory
{
    public string TypeUrl => TypeUrls.HttpRbac;

    public bool IsTerminal => false;

    public IReadOnlyList<string> PerRouteTypeUrls => [TypeUrls.HttpRbacPerRoute];

    public object Compile(Any? typedConfig) => Compile(typedConfig?.Unpack<HttpRbac>() ?? new HttpRbac());

    public object CompilePerRoute(Any typedConfig) => Compile(typedConfig.Unpack<HttpRbacPerRoute>().Rbac ?? new HttpRbac());

    public ProxyRequestDelegate Create(string filterName, object config, ProxyRequestDelegate next)
    {
        var filterConfig = (RbacFilterConfig)config;
        return ctx =>
        {
            var c = ctx.TryGetFilterConfig(filterName, out var o) ? (RbacFilterConfig)o : filterConfig;
            var input = new RbacInput(ctx.Connection, ctx);
            if (c.ShadowRules is { } shadow && shadow.Evaluate(input) is { Allowed: false } shadowDecision)
            {
                Log.ShadowDenied(logger, ctx.PathAndQuery, shadowDecision.MatchedPolicy ?? "none");
            }

            if (c.Rules is not { } rules)
            {
                return next(ctx);
            }

            var decision = rules.Evaluate(input);
            if (rules.Action == RBAC.Types.Action.Log && decision.MatchedPolicy is { } audited)
            {
                Log.Audited(logger, ctx.Http.Request.Method, ctx.PathAndQuery, ctx.Connection.Peer?.SpiffeId ?? "-", audited);
            }

            if (decision.Allowed)
            {
                return next(ctx);
            }

            return LocalReply.SendAsync(
                ctx, 403, ResponseFlags.RbacDenied, $"rbac_access_denied_matched_policy[{decision.MatchedPolicy ?? "none"}]", "RBAC: access denied");
        };
    }

    private static RbacFilterConfig Compile(HttpRbac r) => new(
        r.Rules is null ? null : RbacCompiler.Compile(r.Rules),
        r.ShadowRules is null ? null : RbacCompiler.Compile(r.ShadowRules));

    private static partial class Log
    {
        [LoggerMessage(EventId = 60, Level = LogLevel.Debug, Message = "RBAC shadow rules would deny {Path} (policy {Policy})")]
        public static partial void ShadowDenied(ILogger logger, string path, string policy);

        [LoggerMessage(EventId = 61, Level = LogLevel.Information, Message = "RBAC audit: {Method} {Path} from {Principal} matched {Policy}")]
        public static partial void Audited(ILogger logger, string method, string path, string principal, string policy);
    }
}
