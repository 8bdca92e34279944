namespace Skein.ControlPlane.Mesh;

/// <summary>Parts of a snapshot read as a whole (a generator that enumerates them depends on all of them).</summary>
[Flags]
internal enum MeshInput
{
    None = 0,
    Services = 1 << 0,
    Instances = 1 << 1,
    Config = 1 << 2,
    VirtualServices = 1 << 3,
    DestinationRules = 1 << 4,
    RateLimits = 1 << 5,
    PeerAuthentications = 1 << 6,
    Workloads = 1 << 7,
    SourceLabelKeys = 1 << 8,
    Settings = 1 << 9,
    AuthorizationPolicies = 1 << 11,

    /// <summary>The snapshot's version or time: changes with every snapshot.</summary>
    Version = 1 << 10,
}

/// <summary>What a lookup by host read.</summary>
internal enum MeshLookup : byte
{
    /// <summary><see cref="MeshSnapshot.ServicesByHost"/>, or the service a per-service generator was given.</summary>
    Service,

    /// <summary><see cref="MeshSnapshot.VirtualServiceFor"/>.</summary>
    VirtualService,

    /// <summary><see cref="MeshSnapshot.DestinationRuleFor"/>.</summary>
    DestinationRule,
}

/// <summary>One recorded lookup and the stamp of what it found (0: nothing).</summary>
internal readonly record struct MeshRead(MeshLookup Kind, string Host, string? ProxyNamespace, string? ServiceNamespace, long Stamp);

/// <summary>
/// The inputs one generated fragment read from a snapshot: every lookup by host with the stamp of its result,
/// and the parts read whole. A fragment is still valid for a later snapshot when every lookup finds the same
/// stamp there and no part read whole changed. Recorded by the snapshot itself while a generator runs, so a
/// generator cannot read an input that its cache entry does not know about.
/// </summary>
internal sealed class MeshDependencies
{
    private readonly List<MeshRead> _reads = [];
    private readonly HashSet<MeshRead> _seen = [];

    public MeshInput Wholes { get; private set; }

    public IReadOnlyList<MeshRead> Reads => _reads;

    /// <summary>The stamps of the parts read whole, on the snapshot the reads were made on (only these are
    /// kept, not the snapshot: fragments outlive many snapshots).</summary>
    private long[]? _wholeStamps;

    internal MeshDependencies(MeshSnapshot snapshot) => _wholeStamps = snapshot.Stamps.WholeStamps;

    internal void Add(MeshRead read)
    {
        if (_seen.Add(read))
        {
            _reads.Add(read);
        }
    }

    internal void Add(MeshInput whole) => Wholes |= whole;

    internal void AddAll(MeshDependencies other)
    {
        Wholes |= other.Wholes;
        foreach (var r in other._reads)
        {
            Add(r);
        }
    }

    /// <summary>True when everything read then reads the same in <paramref name="snapshot"/>.</summary>
    public bool ValidFor(MeshSnapshot snapshot)
    {
        var stamps = snapshot.Stamps;
        if (ReferenceEquals(stamps.WholeStamps, _wholeStamps))
        {
            return true; // the same snapshot
        }

        if (_wholeStamps is null || !stamps.SameWholes(_wholeStamps, Wholes))
        {
            return false;
        }

        foreach (var r in _reads)
        {
            if (snapshot.StampOf(r) != r.Stamp)
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>
/// Records, per thread, what generators read from snapshots (generation is synchronous, so a thread-static
/// recorder sees exactly one fragment's reads). Nested recordings add their reads to the enclosing one.
/// </summary>
internal static class MeshReads
{
    [ThreadStatic]
    private static MeshDependencies? t_current;

    /// <summary>Runs <paramref name="generate"/> and returns what it read from <paramref name="snapshot"/>.</summary>
    public static (T Value, MeshDependencies Dependencies) Record<T>(MeshSnapshot snapshot, Func<T> generate)
    {
        var outer = t_current;
        var deps = new MeshDependencies(snapshot);
        t_current = deps;
        try
        {
            var value = generate();
            return (value, deps);
        }
        finally
        {
            t_current = outer;
            outer?.AddAll(deps);
        }
    }

    /// <summary>Adds already known dependencies (a reused fragment) to the recording in progress.</summary>
    public static void Replay(MeshDependencies deps) => t_current?.AddAll(deps);

    internal static void Whole(MeshInput input) => t_current?.Add(input);

    internal static void Lookup(MeshLookup kind, string host, string? proxyNamespace, string? serviceNamespace, long stamp) =>
        t_current?.Add(new MeshRead(kind, host, proxyNamespace, serviceNamespace, stamp));
}
