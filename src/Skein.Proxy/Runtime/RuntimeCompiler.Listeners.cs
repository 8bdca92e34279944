using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Net;
using Skein.Proxy.Protocol;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.TcpProxy.V3;
using XdsCidr = Skein.Xds.Envoy.Config.Core.V3.CidrRange;

namespace Skein.Proxy.Runtime;

internal sealed partial class RuntimeCompiler
{
    private static readonly FrozenSet<string> KnownListenerFilters = new[]
    {
        TypeUrls.OriginalDst, TypeUrls.TlsInspector, TypeUrls.HttpInspector,
    }.ToFrozenSet(StringComparer.Ordinal);

    private ListenerRuntime? CompileListener(
        Listener l,
        Dictionary<string, RouteTable> routes,
        FrozenDictionary<string, ClusterEntry> clusters,
        List<string> errors,
        SortedSet<string> missingRoutes,
        bool treatMissingAsEmpty)
    {
        var where = $"listener {ProtoValues.Quote(l.Name)}";
        if (string.IsNullOrEmpty(l.Name))
        {
            errors.Add($"{where}: name is required");
            return null;
        }

        if (l.ApiListener is not null)
        {
            return null; // proxyless gRPC clients' listener: nothing for a sidecar to serve
        }

        var sa = l.Address?.SocketAddress;
        if (sa is null || !IPAddress.TryParse(sa.Address, out var ip) || sa.PortValue > 65535)
        {
            errors.Add($"{where}.address: a socket_address with an IP address and port_value is required");
            return null;
        }

        for (var i = 0; i < l.ListenerFilters.Count; i++)
        {
            var type = l.ListenerFilters[i].TypedConfig?.TypeUrl;
            if (type is not null && !KnownListenerFilters.Contains(type))
            {
                errors.Add($"{where}.listener_filters[{i}]: unknown listener filter type {type}");
            }
        }

        var before = errors.Count;
        var chains = ImmutableArray.CreateBuilder<FilterChainRuntime>();
        for (var i = 0; i < l.FilterChains.Count; i++)
        {
            var chain = CompileFilterChain(l.FilterChains[i], routes, clusters, errors, missingRoutes, treatMissingAsEmpty, $"{where}.filter_chains[{i}]");
            if (chain is not null)
            {
                chains.Add(chain);
            }
        }

        var fallback = l.DefaultFilterChain is null
            ? null
            : CompileFilterChain(l.DefaultFilterChain, routes, clusters, errors, missingRoutes, treatMissingAsEmpty, $"{where}.default_filter_chain");
        if (errors.Count > before)
        {
            return null;
        }

        return new ListenerRuntime(
            l.Name,
            ip,
            (int)sa.PortValue,
            (ListenerDirection)(int)l.TrafficDirection,
            l.UseOriginalDst ?? false,
            l.BindToPort ?? true,
            chains.ToImmutable(),
            fallback);
    }

    private FilterChainRuntime? CompileFilterChain(
        FilterChain fc,
        Dictionary<string, RouteTable> routes,
        FrozenDictionary<string, ClusterEntry> clusters,
        List<string> errors,
        SortedSet<string> missingRoutes,
        bool treatMissingAsEmpty,
        string where)
    {
        FilterChainMatchRuntime match;
        Tls.DownstreamTlsSettings? tls;
        try
        {
            match = CompileChainMatch(fc.FilterChainMatch);
            tls = CompileDownstreamTransport(fc.TransportSocket);
        }
        catch (ConfigException e)
        {
            errors.Add($"{where}: {e.Message}");
            return null;
        }

        if (fc.Filters.Count == 0)
        {
            errors.Add($"{where}.filters: at least one network filter is required");
            return null;
        }

        NetworkHandler? handler = null;
        var networkRbac = ImmutableArray.CreateBuilder<Authz.NetworkRbacRuntime>();
        for (var i = 0; i < fc.Filters.Count; i++)
        {
            var f = fc.Filters[i];
            var fWhere = $"{where}.filters[{i}]";
            var type = f.TypedConfig?.TypeUrl;
            var last = i == fc.Filters.Count - 1;
            if (string.Equals(type, TypeUrls.HttpConnectionManager, StringComparison.Ordinal) && last)
            {
                handler = CompileHcm(f.TypedConfig!.Unpack<HttpConnectionManager>(), routes, clusters, errors, missingRoutes, treatMissingAsEmpty, fWhere);
            }
            else if (string.Equals(type, TypeUrls.TcpProxy, StringComparison.Ordinal) && last)
            {
                handler = Guard(() => CompileTcpProxy(f.TypedConfig!.Unpack<TcpProxy>(), clusters), errors, fWhere);
            }
            else if (string.Equals(type, TypeUrls.NetworkRbac, StringComparison.Ordinal) && !last)
            {
                var rbac = Guard(() => Authz.NetworkRbacRuntime.Compile(f.TypedConfig!.Unpack<Skein.Xds.Envoy.Extensions.Filters.Network.Rbac.V3.RBAC>()), errors, fWhere);
                if (rbac is not null)
                {
                    networkRbac.Add(rbac);
                }
            }
            else
            {
                errors.Add($"{fWhere}: unsupported network filter {type ?? f.Name}"
                    + (last ? string.Empty : " (http_connection_manager and tcp_proxy must be last)"));
            }
        }

        return handler is null ? null : new FilterChainRuntime(fc.Name, match, handler, tls) { NetworkRbac = networkRbac.ToImmutable() };
    }

    private HttpConnectionManagerRuntime? CompileHcm(
        HttpConnectionManager h,
        Dictionary<string, RouteTable> routes,
        FrozenDictionary<string, ClusterEntry> clusters,
        List<string> errors,
        SortedSet<string> missingRoutes,
        bool treatMissingAsEmpty,
        string where)
    {
        var before = errors.Count;
        RouteTable? table = null;
        string? rdsName = null;
        switch (h.RouteSpecifierCase)
        {
            case HttpConnectionManager.RouteSpecifierOneofCase.Rds:
                rdsName = h.Rds.RouteConfigName;
                if (string.IsNullOrEmpty(rdsName))
                {
                    errors.Add($"{where}.rds.route_config_name: is required");
                }
                else if (h.Rds.ConfigSource?.ConfigSourceSpecifierCase == ConfigSource.ConfigSourceSpecifierOneofCase.Path)
                {
                    errors.Add($"{where}.rds.config_source: only ads is supported");
                }
                else if (!routes.TryGetValue(rdsName, out table))
                {
                    missingRoutes.Add(rdsName);
                    table = treatMissingAsEmpty ? EmptyRouteTable(rdsName) : null;
                }

                break;
            case HttpConnectionManager.RouteSpecifierOneofCase.RouteConfig:
                table = CompileRouteTable(h.RouteConfig, clusters, errors, $"{where}.route_config");
                break;
            default:
                errors.Add($"{where}: rds or route_config is required");
                break;
        }

        var pipeline = BuildPipeline(h, errors, where, out var names);
        if (errors.Count > before || table is null || pipeline is null)
        {
            return null;
        }

        var upgrades = new Dictionary<string, bool>(StringComparer.OrdinalIgnoreCase);
        foreach (var u in h.UpgradeConfigs)
        {
            upgrades[u.UpgradeType] = u.Enabled ?? true;
        }

        return new HttpConnectionManagerRuntime(
            h.StatPrefix,
            rdsName,
            table,
            names,
            pipeline,
            ProtoValues.Timeout(h.StreamIdleTimeout, TimeSpan.FromMinutes(5)) ?? Timeout.InfiniteTimeSpan,
            ProtoValues.Timeout(h.RequestTimeout, null),
            upgrades.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            h.GenerateRequestId ?? true);
    }

    private ProxyRequestDelegate? BuildPipeline(HttpConnectionManager h, List<string> errors, string where, out ImmutableArray<string> names)
    {
        var steps = new List<(string Name, IHttpFilterFactory Factory, object Config)>();
        var nameList = ImmutableArray.CreateBuilder<string>();
        var sawRouter = false;
        for (var i = 0; i < h.HttpFilters.Count; i++)
        {
            var f = h.HttpFilters[i];
            var fWhere = $"{where}.http_filters[{i}]";
            if (sawRouter)
            {
                errors.Add($"{fWhere}: {f.Name} comes after the router, which must be the last HTTP filter");
                continue;
            }

            var type = f.TypedConfig?.TypeUrl;
            if (type is null || !filters.ByTypeUrl.TryGetValue(type, out var factory))
            {
                if (!f.IsOptional)
                {
                    errors.Add($"{fWhere}: unknown HTTP filter type {type ?? "(none)"} for {f.Name}");
                }

                continue;
            }

            if (f.Disabled && !factory.IsTerminal)
            {
                continue;
            }

            try
            {
                steps.Add((f.Name, factory, factory.Compile(f.TypedConfig)));
                nameList.Add(f.Name);
                sawRouter = factory.IsTerminal;
            }
            catch (ConfigException e)
            {
                errors.Add($"{fWhere}: {e.Message}");
            }
        }

        names = nameList.ToImmutable();
        if (!sawRouter)
        {
            errors.Add($"{where}.http_filters: the last HTTP filter must be the router ({TypeUrls.Router})");
            return null;
        }

        ProxyRequestDelegate next = static _ => ValueTask.CompletedTask;
        for (var i = steps.Count - 1; i >= 0; i--)
        {
            next = steps[i].Factory.Create(steps[i].Name, steps[i].Config, next);
        }

        return next;
    }
}
