using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Net;
using Skein.Proxy.Protocol;
using Skein.Proxy.Tls;

namespace Skein.Proxy.Runtime;

/// <summary>Which side of the workload a listener serves.</summary>
internal enum ListenerDirection
{
    Unspecified,
    Inbound,
    Outbound,
}

/// <summary>A compiled listener.</summary>
internal sealed record ListenerRuntime(
    string Name,
    IPAddress Address,
    int Port,
    ListenerDirection Direction,
    bool UseOriginalDestination,
    bool BindToPort,
    ImmutableArray<FilterChainRuntime> FilterChains,
    FilterChainRuntime? DefaultFilterChain)
{
    public bool IsWildcard => Address.Equals(IPAddress.Any) || Address.Equals(IPAddress.IPv6Any);
}

/// <summary>An IP prefix (<c>CidrRange</c>).</summary>
internal sealed record CidrRange(IPAddress Prefix, int Length)
{
    public bool Contains(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != Prefix.AddressFamily)
        {
            return false;
        }

        Span<byte> a = stackalloc byte[16];
        Span<byte> p = stackalloc byte[16];
        address.TryWriteBytes(a, out var n);
        Prefix.TryWriteBytes(p, out _);
        var bits = Length;
        for (var i = 0; i < n && bits > 0; i++, bits -= 8)
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

/// <summary>A compiled <c>FilterChainMatch</c>; empty criteria match anything.</summary>
internal sealed record FilterChainMatchRuntime(
    int? DestinationPort,
    ImmutableArray<CidrRange> PrefixRanges,
    ImmutableArray<string> ServerNames,
    string TransportProtocol,
    ImmutableArray<string> ApplicationProtocols,
    int SourceType,
    ImmutableArray<CidrRange> SourcePrefixRanges,
    ImmutableArray<int> SourcePorts)
{
    public static FilterChainMatchRuntime Any { get; } = new(null, [], [], string.Empty, [], 0, [], []);
}

/// <summary>A compiled filter chain: its match, its TLS termination (if any) and its network handler.</summary>
internal sealed record FilterChainRuntime(string Name, FilterChainMatchRuntime Match, NetworkHandler Handler, DownstreamTlsSettings? Tls)
{
    /// <summary>Network RBAC filters in front of the terminal filter, in order (empty when none).</summary>
    public ImmutableArray<Authz.NetworkRbacRuntime> NetworkRbac { get; init; } = [];
}

/// <summary>The terminal network filter of a chain.</summary>
internal abstract record NetworkHandler;

/// <summary>A compiled HTTP connection manager with its filter pipeline built.</summary>
internal sealed record HttpConnectionManagerRuntime(
    string StatPrefix,
    string? RouteConfigName,
    RouteTable Routes,
    ImmutableArray<string> HttpFilterNames,
    ProxyRequestDelegate Pipeline,
    TimeSpan StreamIdleTimeout,
    TimeSpan? RequestTimeout,
    FrozenDictionary<string, bool> Upgrades,
    bool GenerateRequestId) : NetworkHandler;

/// <summary>A compiled TCP proxy: one cluster or a weighted choice.</summary>
internal sealed record TcpProxyRuntime(
    string StatPrefix,
    ImmutableArray<WeightedClusterEntry> Clusters,
    int TotalWeight,
    TimeSpan? IdleTimeout,
    int MaxConnectAttempts) : NetworkHandler;

/// <summary>All listeners of a snapshot, indexed for the lookups the capture ports make.</summary>
internal sealed class ListenerTable
{
    public static ListenerTable Empty { get; } = new([]);

    public ListenerTable(ImmutableArray<ListenerRuntime> all)
    {
        All = all;
        var byPort = new Dictionary<int, List<ListenerRuntime>>();
        foreach (var l in all)
        {
            if (string.Equals(l.Name, Skein.Xds.ResourceNames.VirtualOutbound, StringComparison.Ordinal))
            {
                VirtualOutbound = l;
                continue;
            }

            if (string.Equals(l.Name, Skein.Xds.ResourceNames.VirtualInbound, StringComparison.Ordinal))
            {
                VirtualInbound = l;
                continue;
            }

            if (!byPort.TryGetValue(l.Port, out var list))
            {
                byPort[l.Port] = list = [];
            }

            list.Add(l);
        }

        var frozen = new Dictionary<int, ImmutableArray<ListenerRuntime>>(byPort.Count);
        foreach (var (port, list) in byPort)
        {
            frozen[port] = [.. list];
        }

        ByPort = frozen.ToFrozenDictionary();
    }

    public ImmutableArray<ListenerRuntime> All { get; }

    public FrozenDictionary<int, ImmutableArray<ListenerRuntime>> ByPort { get; }

    public ListenerRuntime? VirtualOutbound { get; }

    public ListenerRuntime? VirtualInbound { get; }
}
