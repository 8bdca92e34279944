namespace Skein.Proxy.Runtime;

/// <summary>
/// The proxy's source of chance (weighted clusters, load balancing, fault percentages, backoff jitter),
/// injectable so that tests are exact.
/// </summary>
internal interface IRandomSource
{
    /// <summary>Returns a value in [0, maxExclusive).</summary>
    int Next(int maxExclusive);

    /// <summary>Returns a value in [0, 1).</summary>
    double NextDouble();
}

/// <summary>The production source: <see cref="Random.Shared"/> (thread-safe).</summary>
internal sealed class SystemRandomSource : IRandomSource
{
    public static SystemRandomSource Instance { get; } = new();

    public int Next(int maxExclusive) => Random.Shared.Next(maxExclusive);

    public double NextDouble() => Random.Shared.NextDouble();
}

/// <summary>A seeded, deterministic source for tests; thread-safe through a lock.</summary>
internal sealed class SeededRandomSource(int seed) : IRandomSource
{
    private readonly Random _random = new(seed);
    private readonly Lock _lock = new();

    public int Next(int maxExclusive)
    {
        lock (_lock)
        {
            return _random.Next(maxExclusive);
        }
    }

    public double NextDouble()
    {
        lock (_lock)
        {
            return _random.NextDouble();
        }
    }
}
