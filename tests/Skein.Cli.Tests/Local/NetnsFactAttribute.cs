using Skein.Cli.Local;

namespace Skein.Cli.Tests.Local;

/// <summary>
/// A fact that needs the real netns runtime: root, `ip netns`, iptables, and no Skein mesh
/// already up on this host (these tests create and sweep skein0 and skein-* namespaces, which
/// would tear down a mesh someone is using). Skipped with the reason otherwise.
/// </summary>
public sealed class NetnsFactAttribute : FactAttribute
{
    public NetnsFactAttribute()
    {
        Skip = SkipReason();
    }

    private static string? SkipReason()
    {
        if (HostNetwork.Unavailable() is { } reason)
        {
            return $"needs the netns runtime: {reason}";
        }

        var leftovers = HostNetwork.Create().Leftovers();
        return leftovers.Count > 0
            ? $"a Skein mesh is up on this host ({string.Join(", ", leftovers.Take(3))}); these tests would tear it down"
            : null;
    }
}

/// <summary>The tests that create kernel objects run one at a time: there is one skein0 per host.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NetnsCollection
{
    public const string Name = "netns";
}
