using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Skein.Proxy.Protocol;
using Skein.Xds;
using HttpRbac = Skein.Xds.Envoy.Extensions.Filters.Http.Rbac.V3.RBAC;
using HttpRbacPerRoute = Skein.Xds.Envoy.Extensions.Filters.Http.Rbac.V3.RBACPerRoute;

namespace Skein.Proxy.Authz;

/// <summary>A compiled HTTP RBAC filter config; null rules disable enforcement (shadow rules are only logged).</summary>
internal sealed record RbacFilterConfig(RbacPolicies? Rules, RbacPolicies? ShadowRules);

/// <summary>
/// HTTP RBAC (<c>envoy.filters.http.rbac</c>): 403 <c>RBAC: access denied</c> when the rules deny. Principals
/// that need a peer identity (<c>authenticated</c>) match once mTLS fills <see cref="DownstreamConnection.Peer"/>.
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
            if (c.ShadowRules is { } shadow && !shadow.Allows(ctx, out var shadowPolicy))
            {
                Log.ShadowDenied(logger, ctx.PathAndQuery, shadowPolicy ?? "none");
            }

            if (c.Rules is not { } rules || rules.Allows(ctx, out _))
            {
                return next(ctx);
            }

            rules.Allows(ctx, out var policy);
            return LocalReply.SendAsync(
                ctx, 403, ResponseFlags.RbacDenied, $"rbac_access_denied_matched_policy[{policy ?? "none"}]", "RBAC: access denied");
        };
    }

    private static RbacFilterConfig Compile(HttpRbac r) => new(
        r.Rules is null ? null : RbacCompiler.Compile(r.Rules),
        r.ShadowRules is null ? null : RbacCompiler.Compile(r.ShadowRules));

    private static partial class Log
    {
        [LoggerMessage(EventId = 60, Level = LogLevel.Debug, Message = "RBAC shadow rules would deny {Path} (policy {Policy})")]
        public static partial void ShadowDenied(ILogger logger, string path, string policy);
    }
}
