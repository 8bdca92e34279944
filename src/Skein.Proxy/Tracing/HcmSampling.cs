using System.Runtime.CompilerServices;
using Skein.Proxy.Runtime;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;

namespace Skein.Proxy.Tracing;

/// <summary>
/// The sampling percentage a control plane pushes on each HTTP connection manager
/// (<c>HttpConnectionManager.tracing.random_sampling</c>, as Istio's pilot sets it), found once per snapshot by
/// walking the listener resources beside the compiled listeners (same names, same filter chain order).
/// </summary>
internal static class HcmSampling
{
    private static readonly ConditionalWeakTable<RuntimeConfig, Dictionary<object, double>> BySnapshot = new();

    /// <summary>The percentage pushed for <paramref name="manager"/>, or null when its HCM has no <c>tracing.random_sampling</c>.</summary>
    public static double? For(RuntimeConfig config, HttpConnectionManagerRuntime? manager)
    {
        if (manager is null)
        {
            return null;
        }

        var map = BySnapshot.GetValue(config, Build);
        return map.Count > 0 && map.TryGetValue(manager, out var percent) ? percent : null;
    }

    private static Dictionary<object, double> Build(RuntimeConfig config)
    {
        var map = new Dictionary<object, double>(ReferenceEqualityComparer.Instance);
        var protos = new Dictionary<string, Listener>(StringComparer.Ordinal);
        foreach (var l in config.Resources.ListenerMessages)
        {
            protos.TryAdd(l.Name, l);
        }

        foreach (var listener in config.Listeners.All)
        {
            if (!protos.TryGetValue(listener.Name, out var proto) || proto.FilterChains.Count != listener.FilterChains.Length)
            {
                continue;
            }

            for (var i = 0; i < listener.FilterChains.Length; i++)
            {
                Add(map, listener.FilterChains[i], proto.FilterChains[i]);
            }

            if (listener.DefaultFilterChain is { } d && proto.DefaultFilterChain is { } pd)
            {
                Add(map, d, pd);
            }
        }

        return map;
    }

    private static void Add(Dictionary<object, double> map, FilterChainRuntime chain, FilterChain proto)
    {
        if (chain.Handler is not HttpConnectionManagerRuntime manager || proto.Filters.Count == 0)
        {
            return;
        }

        var any = proto.Filters[^1].TypedConfig;
        if (any is null || any.TypeUrl != TypeUrls.HttpConnectionManager)
        {
            return;
        }

        var hcm = HttpConnectionManager.Parser.ParseFrom(any.Value);
        if (hcm.Tracing?.RandomSampling is { } percent)
        {
            map[manager] = Math.Clamp(percent.Value, 0, 100);
        }
    }
}
