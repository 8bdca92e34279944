namespace Skein.EndToEnd.Tests;

/// <summary>
/// A test that needs the real netns runtime: root, `ip netns` and iptables. Elsewhere it is
/// skipped with the reason, never silently passed.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class MeshFactAttribute : FactAttribute
{
    public MeshFactAttribute()
    {
        if (Unavailable() is { } reason)
        {
            Skip = reason;
        }
    }

    public static string? Unavailable()
    {
        if (Environment.UserName != "root")
        {
            return "needs root: pods are network namespaces with iptables rules";
        }

        return File.Exists("/usr/sbin/ip") || File.Exists("/sbin/ip") || File.Exists("/usr/bin/ip") ? null : "needs iproute2 (`ip netns`)";
    }
}
