using System.Security.Cryptography;
using System.Text;

namespace Skein.Cli.Local;

/// <summary>
/// Every name the local runtime gives to something it creates on the host. `skein down` sweeps by
/// these names, so they are the only things it may ever delete: keep them distinctive.
/// </summary>
internal static class LocalNames
{
    /// <summary>The bridge in the root namespace; it holds <see cref="GatewayAddress"/>.</summary>
    public const string Bridge = "skein0";

    /// <summary>Prefix of every pod network namespace (and of its /etc/netns directory).</summary>
    public const string NetnsPrefix = "skein-";

    /// <summary>Prefix of the host end of every pod's veth pair.</summary>
    public const string VethPrefix = "skv";

    /// <summary>The pod end of the veth pair, renamed inside the pod as on Kubernetes.</summary>
    public const string PodInterface = "eth0";

    /// <summary>The iptables comment on every rule Skein adds in the root namespace.</summary>
    public const string RuleComment = "skein";

    /// <summary>The uid and gid the sidecar runs as; its traffic is never captured (Istio's 1337).</summary>
    public const int ProxyUid = 1337;

    /// <summary>Linux limits an interface name to 15 bytes (IFNAMSIZ - 1).</summary>
    public const int MaxInterfaceName = 15;

    /// <summary>Network namespace names become file names and show in `ip netns`; keep them readable.</summary>
    public const int MaxNetnsName = 63;

    /// <summary>The bridge's address: the pods' default gateway, where skein-control listens.</summary>
    public const string GatewayAddress = "198.18.0.1";

    public const int PodPrefixLength = 16;

    /// <summary>Environment variable that tags every process `skein up` starts with its run directory.</summary>
    public const string RunDirEnvironment = "SKEIN_RUN_DIR";

    /// <summary>"frontend" replica 0 in "default" → "frontend-0"; other namespaces add theirs: "frontend.prod-0".</summary>
    public static string PodName(string workload, string ns, int replica) =>
        ns == "default" ? $"{workload}-{replica}" : $"{workload}.{ns}-{replica}";

    /// <summary>The pod's network namespace: "skein-" + pod name, shortened with a hash when too long.</summary>
    public static string NetnsName(string podName)
    {
        var name = NetnsPrefix + podName;
        if (name.Length <= MaxNetnsName)
        {
            return name;
        }

        var hash = Hex(podName, 8);
        return name[..(MaxNetnsName - hash.Length - 1)].TrimEnd('-', '.') + "-" + hash;
    }

    /// <summary>The host end of a pod's veth: "skv" + 6 hex digits of a hash of the pod name (and a salt on collisions).</summary>
    public static string VethName(string podName, int salt = 0) =>
        VethPrefix + Hex(salt == 0 ? podName : $"{podName}#{salt}", 6);

    /// <summary>Where `ip netns exec` finds the files it bind-mounts over /etc for a pod.</summary>
    public static string EtcNetnsDir(string netns, string etcNetnsRoot = "/etc/netns") => Path.Combine(etcNetnsRoot, netns);

    /// <summary>True for names only Skein creates: safe to delete in a sweep.</summary>
    public static bool IsSkeinNetns(string name) => name.StartsWith(NetnsPrefix, StringComparison.Ordinal) && name.Length > NetnsPrefix.Length;

    /// <summary>"skv" followed by exactly six lowercase hex digits, or the bridge.</summary>
    public static bool IsSkeinLink(string name) =>
        name == Bridge
        || (name.Length == VethPrefix.Length + 6 && name.StartsWith(VethPrefix, StringComparison.Ordinal)
            && !name.AsSpan(VethPrefix.Length).ContainsAnyExcept(HexDigits));

    /// <summary>Istio's node id shape: sidecar~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local.</summary>
    public static string NodeId(string address, string podName, string ns) => $"sidecar~{address}~{podName}.{ns}~{ns}.svc.cluster.local";

    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdef");

    private static string Hex(string text, int digits) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..digits];
}
