using Google.Protobuf.WellKnownTypes;
using Skein.Proxy.Protocol;
using Skein.Xds;

namespace Skein.Proxy.Routing;

/// <summary>The router HTTP filter (<c>envoy.filters.http.router</c>): always last, runs the route's action.</summary>
internal sealed class RouterFilterFactory(Router router) : IHttpFilterFactory
{
    public string TypeUrl => TypeUrls.Router;

    public bool IsTerminal => true;

    public IReadOnlyList<string> PerRouteTypeUrls => [];

    public object Compile(Any? typedConfig) => router;

    public object CompilePerRoute(Any typedConfig) => throw new Runtime.ConfigException("the router has no per-route config");

    public ProxyRequestDelegate Create(string filterName, object config, ProxyRequestDelegate next) => router.RouteAsync;
}
