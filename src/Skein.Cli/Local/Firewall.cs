using System.Text;

namespace Skein.Cli.Local;

/// <summary>
/// The iptables rules of the netns runtime, rendered as text and argument lists so they can be
/// read and tested without a kernel. Pod rules follow Istio's istio-iptables layout.
/// </summary>
internal static class Firewall
{
    public const string Output = "SKEIN_OUTPUT";
    public const string Redirect = "SKEIN_REDIRECT";
    public const string Inbound = "SKEIN_INBOUND";
    public const string InboundRedirect = "SKEIN_IN_REDIRECT";

    /// <summary>Inbound ports never captured: the sidecar's admin, stats and health ports stay reachable.</summary>
    public const string ExcludedInboundPorts = "15000:15099";

    /// <summary>
    /// The nat table of a pod, for `iptables-restore --noflush` inside its namespace: the app's
    /// outbound TCP goes to the sidecar's outbound port, TCP arriving on eth0 to its inbound port.
    /// The sidecar's own traffic (uid/gid 1337) and loopback traffic are left alone.
    /// </summary>
    public static string RenderPodRules(ProxyPorts ports, int proxyUid = LocalNames.ProxyUid, string podInterface = LocalNames.PodInterface)
    {
        var text = new StringBuilder();
        text.Append("*nat\n");
        foreach (var chain in new[] { Inbound, InboundRedirect, Output, Redirect })
        {
            text.Append(':').Append(chain).Append(" - [0:0]\n");
        }

        void Rule(string rule) => text.Append(rule).Append('\n');

        Rule($"-A PREROUTING -p tcp -j {Inbound}");
        Rule($"-A OUTPUT -p tcp -j {Output}");
        Rule($"-A {Inbound} -p tcp --dport {ExcludedInboundPorts} -j RETURN");
        Rule($"-A {Inbound} -i {podInterface} -p tcp -j {InboundRedirect}");
        Rule($"-A {InboundRedirect} -p tcp -j REDIRECT --to-ports {ports.Inbound}");
        Rule($"-A {Output} -m owner --uid-owner {proxyUid} -j RETURN");
        Rule($"-A {Output} -m owner --gid-owner {proxyUid} -j RETURN");
        Rule($"-A {Output} -d 127.0.0.1/32 -j RETURN");
        Rule($"-A {Output} -o lo -j RETURN");
        Rule($"-A {Output} -j {Redirect}");
        Rule($"-A {Redirect} -p tcp -j REDIRECT --to-ports {ports.Outbound}");
        text.Append("COMMIT\n");
        return text.ToString();
    }

    /// <summary>
    /// Rules in the root namespace, each tagged with the comment "skein" so a sweep finds them:
    /// bridged pod-to-pod traffic is accepted even when the host's FORWARD policy is DROP, and
    /// pods may reach the control plane on the bridge address even when INPUT's policy is DROP.
    /// </summary>
    public static IReadOnlyList<RootRule> RootRules(string bridge = LocalNames.Bridge) =>
    [
        new("filter", "FORWARD", ["-i", bridge, "-o", bridge, "-m", "comment", "--comment", LocalNames.RuleComment, "-j", "ACCEPT"]),
        new("filter", "INPUT", ["-i", bridge, "-m", "comment", "--comment", LocalNames.RuleComment, "-j", "ACCEPT"]),
    ];

    /// <summary>Arguments that insert a root rule at the top of its chain (before any DROP).</summary>
    public static IReadOnlyList<string> InsertArgs(RootRule rule) => ["-w", "-t", rule.Table, "-I", rule.Chain, "1", .. rule.Spec];

    /// <summary>Arguments that check whether a root rule is present (exit 0 when it is).</summary>
    public static IReadOnlyList<string> CheckArgs(RootRule rule) => ["-w", "-t", rule.Table, "-C", rule.Chain, .. rule.Spec];

    /// <summary>Arguments that delete one copy of a root rule.</summary>
    public static IReadOnlyList<string> DeleteArgs(RootRule rule) => ["-w", "-t", rule.Table, "-D", rule.Chain, .. rule.Spec];

    /// <summary>
    /// From `iptables -t TABLE -S` output, the delete commands for every rule that carries the
    /// comment "skein" (whoever added it), for the sweep after a lost state file.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<string>> SweepDeleteArgs(string table, string listing)
    {
        var result = new List<IReadOnlyList<string>>();
        foreach (var raw in listing.Split('\n'))
        {
            var line = raw.Trim();
            if (!line.StartsWith("-A ", StringComparison.Ordinal))
            {
                continue;
            }

            var words = SplitRule(line);
            var comment = words.IndexOf("--comment");
            if (comment < 0 || comment + 1 >= words.Count || words[comment + 1] != LocalNames.RuleComment)
            {
                continue;
            }

            result.Add(["-w", "-t", table, "-D", .. words.Skip(1)]);
        }

        return result;
    }

    /// <summary>Splits an `iptables -S` line into words, honouring the double quotes iptables puts around comments.</summary>
    public static List<string> SplitRule(string line)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        var quoted = false;
        var any = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (c == '\\' && quoted && i + 1 < line.Length)
            {
                current.Append(line[++i]);
            }
            else if (c == '"')
            {
                quoted = !quoted;
                any = true;
            }
            else if (c == ' ' && !quoted)
            {
                if (any || current.Length > 0)
                {
                    words.Add(current.ToString());
                    current.Clear();
                    any = false;
                }
            }
            else
            {
                current.Append(c);
            }
        }

        if (any || current.Length > 0)
        {
            words.Add(current.ToString());
        }

        return words;
    }
}
