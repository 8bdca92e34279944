using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Net;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.TcpProxy.V3;
using XdsCidr = Skein.Xds.Envoy.Config.Core.V3.CidrRange;

namespace Skein.Proxy.Runtime;

/// <summary>Network-level parts of the compiler: filter chain matches, TCP proxies.</summary>
internal sealed partial class RuntimeCompiler
{
    private static FilterChainMatchRuntime CompileChainMatch(FilterChainMatch? m)
    {
        if (m is null)
        {
            return FilterChainMatchRuntime.Any;
        }

        var ports = ImmutableArray.CreateBuilder<int>();
        foreach (var p in m.SourcePorts)
        {
            ports.Add((int)p);
        }

        return new FilterChainMatchRuntime(
            m.DestinationPort is null ? null : (int)m.DestinationPort.Value,
            Cidrs(m.PrefixRanges),
            [.. m.ServerNames],
            m.TransportProtocol,
            [.. m.ApplicationProtocols],
            (int)m.SourceType,
            Cidrs(m.SourcePrefixRanges),
            ports.ToImmutable());
    }

    private static ImmutableArray<CidrRange> Cidrs(IEnumerable<XdsCidr> ranges)
    {
        var list = ImmutableArray.CreateBuilder<CidrRange>();
        foreach (var r in ranges)
        {
            if (!IPAddress.TryParse(r.AddressPrefix, out var ip))
            {
                throw new ConfigException($"invalid CIDR prefix \"{r.AddressPrefix}\"");
            }

            var max = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
            var len = (int)(r.PrefixLen ?? (uint)max);
            if (len > max)
            {
                throw new ConfigException($"invalid prefix length {len} for {r.AddressPrefix}");
            }

            list.Add(new CidrRange(ip, len));
        }

        return list.ToImmutable();
    }

    private static TcpProxyRuntime CompileTcpProxy(TcpProxy t, FrozenDictionary<string, ClusterEntry> clusters)
    {
        var list = ImmutableArray.CreateBuilder<WeightedClusterEntry>();
        var total = 0;
        if (t.ClusterSpecifierCase == TcpProxy.ClusterSpecifierOneofCase.Cluster && t.Cluster.Length > 0)
        {
            clusters.TryGetValue(t.Cluster, out var target);
            list.Add(new WeightedClusterEntry(t.Cluster, 1, target, HeaderMutations.None, HeaderMutations.None, PerFilterConfig.Empty));
            total = 1;
        }
        else if (t.ClusterSpecifierCase == TcpProxy.ClusterSpecifierOneofCase.WeightedClusters)
        {
            foreach (var w in t.WeightedClusters.Clusters)
            {
                clusters.TryGetValue(w.Name, out var target);
                list.Add(new WeightedClusterEntry(w.Name, (int)w.Weight, target, HeaderMutations.None, HeaderMutations.None, PerFilterConfig.Empty));
                total += (int)w.Weight;
            }
        }

        if (list.Count == 0 || total <= 0)
        {
            throw new ConfigException("tcp_proxy needs a cluster or weighted_clusters with a positive total weight");
        }

        return new TcpProxyRuntime(
            t.StatPrefix,
            list.ToImmutable(),
            total,
            ProtoValues.Timeout(t.IdleTimeout, TimeSpan.FromHours(1)),
            (int)(t.MaxConnectAttempts ?? 1));
    }

    private static RouteTable EmptyRouteTable(string name) => new()
    {
        Name = name,
        ExactDomains = FrozenDictionary<string, VirtualHostRuntime>.Empty,
        SuffixDomains = [],
        PrefixDomains = [],
        RequestHeaders = HeaderMutations.None,
        ResponseHeaders = HeaderMutations.None,
        FilterConfigs = PerFilterConfig.Empty,
        VirtualHosts = [],
    };
}
