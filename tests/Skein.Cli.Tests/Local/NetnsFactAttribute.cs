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
        if (leftovers.Count > 0)
        {
            return $"a Skein mesh is up on this host ({string.Join(", ", leftovers.Take(3))}); these tests would tear it down";
        }

        // Root in a container without CAP_SYS_ADMIN/CAP_NET_ADMIN can list namespaces but not make them.
        var probe = $"skein-probe-{Environment.ProcessId}";
        var add = Shell.Run("ip", ["netns", "add", probe]);
        if (!add.Ok)
        {
            return $"needs the netns runtime: `ip netns add` fails here: {add.Stderr.Trim()}";
        }

        var nat = Shell.Run("ip", ["netns", "exec", probe, "iptables", "-w", "-t", "nat", "-S"]);
        Shell.Run("ip", ["netns", "del", probe]);
        return nat.Ok ? null : $"needs the netns runtime: iptables' nat table does not work here: {nat.Stderr.Trim()}";
    }
}

/// <summary>The tests that create kernel objects run one at a time: there is one skein0 per host.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NetnsCollection
{
    public const string Name = "netns";
}
