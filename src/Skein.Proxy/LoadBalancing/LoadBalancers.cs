using System.Collections.Frozen;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.LoadBalancing;

/// <summary>Picks one endpoint of a cluster for a request. One instance per cluster (it may keep state).</summary>
internal interface ILoadBalancer
{
    /// <summary>The policy name as xDS spells it (<c>ROUND_ROBIN</c>, <c>LEAST_REQUEST</c>, …).</summary>
    string Name { get; }

    /// <summary>Picks from <see cref="EndpointSet.Selectable"/>; null when there is none.</summary>
    /// <param name="endpoints">The cluster's endpoints in the request's snapshot.</param>
    /// <param name="hash">The request hash from the route's hash policy, if any (consistent hashing).</param>
    UpstreamEndpoint? Pick(EndpointSet endpoints, ulong? hash);
}

/// <summary>Creates load balancers by policy name.</summary>
internal sealed class LoadBalancerRegistry(IRandomSource random)
{
    private readonly FrozenDictionary<string, Func<ClusterSettings, ILoadBalancer>> _factories =
        new Dictionary<string, Func<ClusterSettings, ILoadBalancer>>(StringComparer.Ordinal)
        {
            ["ROUND_ROBIN"] = _ => new RoundRobinBalancer(),
            ["LEAST_REQUEST"] = s => new LeastRequestBalancer(random, s.LeastRequestChoiceCount),
            ["RANDOM"] = _ => new RandomBalancer(random),
            ["RING_HASH"] = _ => new ConsistentHashBalancer(random, "RING_HASH"),
            ["MAGLEV"] = _ => new ConsistentHashBalancer(random, "MAGLEV"),
            ["CLUSTER_PROVIDED"] = _ => new RandomBalancer(random),
        }.ToFrozenDictionary(StringComparer.Ordinal);

    public bool IsKnown(string name) => _factories.ContainsKey(name);

    public ILoadBalancer Create(ClusterSettings settings) =>
        _factories.TryGetValue(settings.LbPolicy, out var f) ? f(settings) : throw new ConfigException($"unsupported lb_policy {settings.LbPolicy}");
}

/// <summary>ROUND_ROBIN: each endpoint in turn.</summary>
internal sealed class RoundRobinBalancer : ILoadBalancer
{
    private uint _next;

    public string Name => "ROUND_ROBIN";

    public UpstreamEndpoint? Pick(EndpointSet endpoints, ulong? hash)
    {
        var list = endpoints.Selectable;
        if (list.IsEmpty)
        {
            return null;
        }

        var i = Interlocked.Increment(ref _next) - 1;
        return list[(int)(i % (uint)list.Length)];
    }
}

/// <summary>RANDOM: weighted random choice.</summary>
internal sealed class RandomBalancer(IRandomSource random) : ILoadBalancer
{
    public string Name => "RANDOM";

    public UpstreamEndpoint? Pick(EndpointSet endpoints, ulong? hash) => WeightedRandom(endpoints, random);

    internal static UpstreamEndpoint? WeightedRandom(EndpointSet endpoints, IRandomSource random)
    {
        var list = endpoints.Selectable;
        if (list.IsEmpty)
        {
            return null;
        }

        var total = 0;
        foreach (var e in list)
        {
            total += e.Weight;
        }

        var roll = random.Next(Math.Max(total, 1));
        foreach (var e in list)
        {
            roll -= e.Weight;
            if (roll < 0)
            {
                return e;
            }
        }

        return list[^1];
    }
}

/// <summary>LEAST_REQUEST: the power of two (or N) choices; the endpoint with fewer active requests wins.</summary>
internal sealed class LeastRequestBalancer(IRandomSource random, int choiceCount) : ILoadBalancer
{
    public string Name => "LEAST_REQUEST";

    public UpstreamEndpoint? Pick(EndpointSet endpoints, ulong? hash)
    {
        var list = endpoints.Selectable;
        if (list.Length <= 1)
        {
            return list.IsEmpty ? null : list[0];
        }

        UpstreamEndpoint? best = null;
        var choices = Math.Max(choiceCount, 2);
        for (var i = 0; i < choices; i++)
        {
            var candidate = list[random.Next(list.Length)];
            if (best is null || candidate.Stats.ActiveRequests < best.Stats.ActiveRequests)
            {
                best = candidate;
            }
        }

        return best;
    }
}

/// <summary>
/// RING_HASH / MAGLEV: consistent hashing by the route's hash policy, implemented as rendezvous
/// (highest random weight) hashing, which gives the same stickiness with minimal disruption. Without
/// a request hash it picks at random, as Envoy does.
/// </summary>
internal sealed class ConsistentHashBalancer(IRandomSource random, string name) : ILoadBalancer
{
    public string Name => name;

    public UpstreamEndpoint? Pick(EndpointSet endpoints, ulong? hash)
    {
        if (hash is not { } h)
        {
            return RandomBalancer.WeightedRandom(endpoints, random);
        }

        UpstreamEndpoint? best = null;
        var bestScore = double.MinValue;
        foreach (var e in endpoints.Selectable)
        {
            var mixed = Mix(h ^ Fnv(e.HttpPrefix));
            var unit = (mixed >> 11) * (1.0 / (1UL << 53));
            var score = -Math.Max(e.Weight, 1) / Math.Log(Math.Max(unit, double.Epsilon));
            if (score > bestScore)
            {
                bestScore = score;
                best = e;
            }
        }

        return best;
    }

    private static ulong Fnv(string s)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in s)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return hash;
    }

    private static ulong Mix(ulong x)
    {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdUL;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53UL;
        return x ^ (x >> 33);
    }
}
