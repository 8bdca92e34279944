using System.Buffers;
using System.Net;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.Listeners;

/// <summary>Finds the xDS listener and filter chain for a connection, as Envoy does with original-destination listeners.</summary>
internal static class ListenerSelector
{
    /// <summary>
    /// The listener for traffic to <paramref name="destination"/>: on the outbound side a listener bound to the exact
    /// address and port, then the wildcard listener of the port, then <c>virtualOutbound</c>; on the inbound side
    /// <c>virtualInbound</c> (its chains match on destination port), then a listener of the port.
    /// </summary>
    public static ListenerRuntime? SelectListener(ListenerTable table, ListenerRole role, IPEndPoint destination)
    {
        if (role == ListenerRole.Inbound && table.VirtualInbound is { } vin)
        {
            return vin;
        }

        if (table.ByPort.TryGetValue(destination.Port, out var candidates))
        {
            ListenerRuntime? wildcard = null;
            foreach (var l in candidates)
            {
                if (role == ListenerRole.Inbound ? l.Direction == ListenerDirection.Outbound : l.Direction == ListenerDirection.Inbound)
                {
                    continue;
                }

                if (l.Address.Equals(destination.Address))
                {
                    return l;
                }

                if (l.IsWildcard)
                {
                    wildcard ??= l;
                }
            }

            if (wildcard is not null)
            {
                return wildcard;
            }
        }

        return role == ListenerRole.Outbound ? table.VirtualOutbound : null;
    }

    /// <summary>Envoy's filter chain match: each criterion in turn keeps the most specific matching chains.</summary>
    public static FilterChainRuntime? SelectChain(ListenerRuntime listener, DownstreamConnection conn, IPEndPoint destination)
    {
        var chains = listener.FilterChains;
        if (chains.IsEmpty)
        {
            return listener.DefaultFilterChain;
        }

        var pool = ArrayPool<int>.Shared.Rent(chains.Length);
        try
        {
            var count = chains.Length;
            for (var i = 0; i < count; i++)
            {
                pool[i] = i;
            }

            var source = conn.RemoteEndPoint;
            for (var level = 0; level < 8 && count > 0; level++)
            {
                var best = -1;
                for (var i = 0; i < count; i++)
                {
                    best = Math.Max(best, Score(chains[pool[i]].Match, level, conn, destination, source));
                }

                var kept = 0;
                for (var i = 0; i < count; i++)
                {
                    if (best >= 0 && Score(chains[pool[i]].Match, level, conn, destination, source) == best)
                    {
                        pool[kept++] = pool[i];
                    }
                }

                count = kept;
            }

            return count > 0 ? chains[pool[0]] : listener.DefaultFilterChain;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(pool);
        }
    }

    /// <summary>-1: no match; 0: criterion unset; higher: more specific match.</summary>
    private static int Score(FilterChainMatchRuntime m, int level, DownstreamConnection conn, IPEndPoint dst, IPEndPoint? src) => level switch
    {
        0 => m.DestinationPort is not { } p ? 0 : p == dst.Port ? 1 : -1,
        1 => PrefixScore(m.PrefixRanges, dst.Address),
        2 => ServerNameScore(m.ServerNames, conn.ServerName),
        3 => m.TransportProtocol.Length == 0 ? 0 : string.Equals(m.TransportProtocol, conn.TransportProtocol, StringComparison.Ordinal) ? 1 : -1,
        4 => AlpnScore(m.ApplicationProtocols, conn.ApplicationProtocols),
        5 => m.SourceType == 0 ? 0 : (IsLocal(src, dst) == (m.SourceType == 1)) ? 1 : -1,
        6 => src is null ? (m.SourcePrefixRanges.IsEmpty ? 0 : -1) : PrefixScore(m.SourcePrefixRanges, src.Address),
        _ => m.SourcePorts.IsEmpty ? 0 : src is not null && m.SourcePorts.Contains(src.Port) ? 1 : -1,
    };

    private static int PrefixScore(System.Collections.Immutable.ImmutableArray<CidrRange> ranges, IPAddress address)
    {
        if (ranges.IsEmpty)
        {
            return 0;
        }

        var best = -1;
        foreach (var r in ranges)
        {
            if (r.Contains(address))
            {
                best = Math.Max(best, r.Length + 1);
            }
        }

        return best;
    }

    private static int ServerNameScore(System.Collections.Immutable.ImmutableArray<string> names, string? sni)
    {
        if (names.IsEmpty)
        {
            return 0;
        }

        if (sni is null)
        {
            return -1;
        }

        var best = -1;
        foreach (var n in names)
        {
            if (string.Equals(n, sni, StringComparison.OrdinalIgnoreCase))
            {
                return int.MaxValue;
            }

            if (n.StartsWith("*.", StringComparison.Ordinal) && sni.EndsWith(n.AsSpan(1), StringComparison.OrdinalIgnoreCase))
            {
                best = Math.Max(best, n.Length);
            }
        }

        return best;
    }

    private static int AlpnScore(System.Collections.Immutable.ImmutableArray<string> wanted, IReadOnlyList<string> offered)
    {
        if (wanted.IsEmpty)
        {
            return 0;
        }

        foreach (var w in wanted)
        {
            for (var i = 0; i < offered.Count; i++)
            {
                if (string.Equals(w, offered[i], StringComparison.Ordinal))
                {
                    return 1;
                }
            }
        }

        return -1;
    }

    private static bool IsLocal(IPEndPoint? src, IPEndPoint dst) =>
        src is not null && (IPAddress.IsLoopback(src.Address) || src.Address.Equals(dst.Address));
}
