using System.Collections.Frozen;
using System.Collections.Immutable;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.LoadBalancing;

/// <summary>Picks one endpoint of a cluster for a request. One instance per cluster (it may keep state).</summary>
internal interface ILoadBalancer
{
    /// <summary>The policy name as xDS spells it (<c>ROUND_ROBIN</c>, <c>LEAST_REQUEST</c>, …).</summary>
    string Name { get; }

    /// <summary>
    /// Picks a priority level by the priority loads (by the request hash when there is one, else at random),
    /// then an endpoint of that level's selectable hosts; null when there is none.
    /// </summary>
    /// <param name="endpoints">The cluster's endpoints in the request's snapshot.</param>
    /// <param name="hash">The request hash from the route's hash policy, if any (consistent hashing).</param>
    UpstreamEndpoint? Pick(EndpointSet endpoints, ulong? hash);

    /// <summary>Picks one of <paramref name="hosts"/> (already filtered for health and priority).</summary>
    UpstreamEndpoint? PickFrom(ImmutableArray<UpstreamEndpoint> hosts, ulong? hash);
}

/// <summary>The priority step shared by every balancer; subclasses choose within a level.</summary>
internal abstract class LoadBalancer(IRandomSource random) : ILoadBalancer
{
    protected IRandomSource Random { get; } = random;

    public abstract string Name { get; }

    public UpstreamEndpoint? Pick(EndpointSet endpoints, ulong? hash)
    {
        var view = endpoints.View;
        if (view.Levels.Length == 1 && view.Localities.IsDefault)
        {
            return PickFrom(view.Levels[0], hash);
        }

        // Envoy chooses the priority with the hash when there is one, so a key keeps its level too.
        var roll = hash is { } h ? (int)(h % 100) : Random.Next(100);
        return PickFrom(view.Choose(roll, Random), hash);
    }

    public abstract UpstreamEndpoint? PickFrom(ImmutableArray<UpstreamEndpoint> hosts, ulong? hash);
}

/// <summary>Creates load balancers by policy name.</summary>
internal sealed class LoadBalancerRegistry(IRandomSource random)
{
    private readonly FrozenDictionary<string, Func<ClusterSettings, ILoadBalancer>> _factories =
        new Dictionary<string, Func<ClusterSettings, ILoadBalancer>>(StringComparer.Ordinal)
        {
            ["ROUND_ROBIN"] = _ => new RoundRobinBalancer(random),
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
internal sealed class RoundRobinBalancer(IRandomSource random) : LoadBalancer(random)
{
    private uint _next;

    public override string Name => "ROUND_ROBIN";

    public override UpstreamEndpoint? PickFrom(ImmutableArray<UpstreamEndpoint> hosts, ulong? hash)
    {
        if (hosts.IsEmpty)
        {
            return null;
        }

        var i = Interlocked.Increment(ref _next) - 1;
        return hosts[(int)(i % (uint)hosts.Length)];
    }
}

/// <summary>RANDOM: weighted random choice.</summary>
internal sealed class RandomBalancer(IRandomSource random) : LoadBalancer(random)
{
    public override string Name => "RANDOM";

    public override UpstreamEndpoint? PickFrom(ImmutableArray<UpstreamEndpoint> hosts, ulong? hash) => WeightedRandom(hosts, Random);

    internal static UpstreamEndpoint? WeightedRandom(ImmutableArray<UpstreamEndpoint> list, IRandomSource random)
    {
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
internal sealed class LeastRequestBalancer(IRandomSource random, int choiceCount) : LoadBalancer(random)
{
    public override string Name => "LEAST_REQUEST";

    public override UpstreamEndpoint? PickFrom(ImmutableArray<UpstreamEndpoint> list, ulong? hash)
    {
        if (list.Length <= 1)
        {
            return list.IsEmpty ? null : list[0];
        }

        UpstreamEndpoint? best = null;
        var choices = Math.Max(choiceCount, 2);
        for (var i = 0; i < choices; i++)
        {
            var candidate = list[Random.Next(list.Length)];
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
internal sealed class ConsistentHashBalancer(IRandomSource random, string name) : LoadBalancer(random)
{
    public override string Name => name;

    public override UpstreamEndpoint? PickFrom(ImmutableArray<UpstreamEndpoint> hosts, ulong? hash)
    {
        if (hash is not { } h)
        {
            return RandomBalancer.WeightedRandom(hosts, Random);
        }

        UpstreamEndpoint? best = null;
        var bestScore = double.MinValue;
        foreach (var e in hosts)
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
