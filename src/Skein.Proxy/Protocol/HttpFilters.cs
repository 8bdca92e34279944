using System.Collections.Frozen;
using Google.Protobuf.WellKnownTypes;

namespace Skein.Proxy.Protocol;

/// <summary>
/// Compiles one kind of HTTP filter (chosen by the type URL of its <c>typed_config</c>) and builds its
/// pipeline step. Filters are built once per config snapshot, never per request.
/// </summary>
internal interface IHttpFilterFactory
{
    /// <summary>The type URL of the filter's <c>typed_config</c>.</summary>
    string TypeUrl { get; }

    /// <summary>True for the router, which must be last.</summary>
    bool IsTerminal { get; }

    /// <summary>Type URLs accepted in <c>typed_per_filter_config</c> for this filter.</summary>
    IReadOnlyList<string> PerRouteTypeUrls { get; }

    /// <summary>Compiles the filter's config; throws <see cref="Runtime.ConfigException"/> when invalid.</summary>
    object Compile(Any? typedConfig);

    /// <summary>Compiles a per-route override; throws <see cref="Runtime.ConfigException"/> when invalid.</summary>
    object CompilePerRoute(Any typedConfig);

    /// <summary>Builds the filter's step in front of <paramref name="next"/>.</summary>
    ProxyRequestDelegate Create(string filterName, object config, ProxyRequestDelegate next);
}

/// <summary>The HTTP filters the proxy knows, by type URL.</summary>
internal sealed class HttpFilterRegistry
{
    public HttpFilterRegistry(IEnumerable<IHttpFilterFactory> factories)
    {
        var byType = new Dictionary<string, IHttpFilterFactory>(StringComparer.Ordinal);
        var byPerRoute = new Dictionary<string, IHttpFilterFactory>(StringComparer.Ordinal);
        foreach (var f in factories)
        {
            byType[f.TypeUrl] = f;
            foreach (var t in f.PerRouteTypeUrls)
            {
                byPerRoute[t] = f;
            }
        }

        ByTypeUrl = byType.ToFrozenDictionary(StringComparer.Ordinal);
        ByPerRouteTypeUrl = byPerRoute.ToFrozenDictionary(StringComparer.Ordinal);
    }

    public FrozenDictionary<string, IHttpFilterFactory> ByTypeUrl { get; }

    public FrozenDictionary<string, IHttpFilterFactory> ByPerRouteTypeUrl { get; }
}
