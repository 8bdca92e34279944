using System.Net;
using System.Text;

namespace Skein.Cli.Local;

/// <summary>A service as the control plane's registry reports it: its host name and virtual IP.</summary>
internal sealed record ServiceVip(string Hostname, string Vip);

/// <summary>
/// Renders a pod's /etc/hosts (bind-mounted by `ip netns exec` from /etc/netns/&lt;pod&gt;/hosts):
/// localhost, the pod itself, and every service under each name Kubernetes DNS would answer
/// for it, pointing at the service's VIP.
/// </summary>
internal static class HostsFile
{
    private const string ClusterSuffix = ".svc.cluster.local";

    public static string Render(string podName, string podNamespace, string? podAddress, IEnumerable<ServiceVip> services)
    {
        var text = new StringBuilder();
        text.Append("# Written by `skein up` for pod ").Append(podName).Append("; removed by `skein down`.\n");
        text.Append("127.0.0.1\tlocalhost\n");
        text.Append("::1\tlocalhost ip6-localhost ip6-loopback\n");
        if (podAddress is not null)
        {
            text.Append(podAddress).Append('\t').Append(podName).Append('\n');
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var service in services.OrderBy(s => s.Hostname, StringComparer.Ordinal))
        {
            // Only VIPs from the never-routed range may appear: a hosts file is not the place to send traffic elsewhere.
            if (!IPAddress.TryParse(service.Vip, out var vip) || !AddressAllocator.IsVip(vip))
            {
                continue;
            }

            var names = Aliases(service.Hostname, podNamespace).Where(seen.Add).ToList();
            if (names.Count > 0)
            {
                text.Append(service.Vip).Append('\t').Append(string.Join(' ', names)).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// A pod's /etc/resolv.conf. Pods cannot reach the host's resolver (nothing is routed out of
    /// 198.18.0.0/16), so lookups of names the hosts file lacks fail at once on the pod's own
    /// loopback instead of waiting for DNS timeouts.
    /// </summary>
    public static string RenderResolvConf(string podNamespace) =>
        "# Written by `skein up`: service names are in /etc/hosts; there is no DNS server in a pod.\n"
        + $"search {podNamespace}.svc.cluster.local svc.cluster.local cluster.local\n"
        + "nameserver 127.0.0.1\n"
        + "options timeout:1 attempts:1\n";

    /// <summary>
    /// "reviews.default.svc.cluster.local" → reviews (only for pods in "default", as a Kubernetes
    /// pod's DNS search path would), reviews.default, reviews.default.svc and the FQDN. Other
    /// hosts (ServiceEntry) stay as written.
    /// </summary>
    public static IEnumerable<string> Aliases(string hostname, string podNamespace)
    {
        if (!hostname.EndsWith(ClusterSuffix, StringComparison.OrdinalIgnoreCase))
        {
            yield return hostname;
            yield break;
        }

        var head = hostname[..^ClusterSuffix.Length];
        var dot = head.IndexOf('.');
        if (dot <= 0)
        {
            yield return hostname;
            yield break;
        }

        var name = head[..dot];
        var ns = head[(dot + 1)..];
        if (ns == podNamespace)
        {
            yield return name;
        }

        yield return $"{name}.{ns}";
        yield return $"{name}.{ns}.svc";
        yield return hostname;
    }
}
