namespace Skein.Cli.Local;

/// <summary>
/// Creates and removes the kernel objects of the netns runtime: the bridge, root-namespace
/// iptables rules, and per pod a network namespace, a veth pair, addresses, a default route,
/// a hosts file and the capture rules. Each step is recorded in state before it is taken.
/// Only names from <see cref="LocalNames"/> and addresses from 198.18.0.0/16 are ever used.
/// </summary>
internal sealed class HostNetwork
{
    private readonly string ip;
    private readonly string iptables;
    private readonly string iptablesRestore;
    private readonly string etcNetnsRoot;

    private HostNetwork(string ip, string iptables, string iptablesRestore, string etcNetnsRoot)
    {
        this.ip = ip;
        this.iptables = iptables;
        this.iptablesRestore = iptablesRestore;
        this.etcNetnsRoot = etcNetnsRoot;
    }

    /// <summary>Finds the tools; throws a message naming the Debian package when one is missing.</summary>
    public static HostNetwork Create(string etcNetnsRoot = "/etc/netns") => new(
        Shell.Require("ip", "iproute2"),
        Shell.Require("iptables", "iptables"),
        Shell.Require("iptables-restore", "iptables"),
        etcNetnsRoot);

    /// <summary>Why the netns runtime cannot run here, or null when it can (root, ip netns, iptables).</summary>
    public static string? Unavailable()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "network namespaces need Linux";
        }

        if (!Native.IsRoot)
        {
            return "creating network namespaces needs root";
        }

        foreach (var (tool, package) in new[] { ("ip", "iproute2"), ("iptables", "iptables"), ("iptables-restore", "iptables"), ("setpriv", "util-linux") })
        {
            if (Shell.Find(tool) is null)
            {
                return $"`{tool}` is not installed (apt-get install -y {package})";
            }
        }

        var probe = Shell.Run(Shell.Find("ip")!, ["netns", "list"]);
        return probe.Ok ? null : $"`ip netns` does not work here: {probe.Stderr.Trim()}";
    }

    public bool LinkExists(string name) => Shell.Run(ip, ["link", "show", "dev", name]).Ok;

    /// <summary>Names of all links in the root namespace.</summary>
    public IReadOnlyList<string> Links()
    {
        var names = new List<string>();
        foreach (var line in Shell.Check(ip, ["-o", "link", "show"]).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // "12: skv0a1b2c@if2: <BROADCAST,...> ..."
            var parts = line.Split(':', 3);
            if (parts.Length >= 2)
            {
                var name = parts[1].Trim();
                var at = name.IndexOf('@');
                names.Add(at >= 0 ? name[..at] : name);
            }
        }

        return names;
    }

    /// <summary>Names of all network namespaces `ip netns` knows.</summary>
    public IReadOnlyList<string> NetnsList() =>
        Shell.Check(ip, ["netns", "list"]).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', 2)[0].Trim())
            .Where(name => name.Length > 0)
            .ToList();

    /// <summary>Creates the bridge with the gateway address (recorded first), and the tagged root rules.</summary>
    public void CreateBridge(StateStore store)
    {
        store.Update(s => s.Bridge = LocalNames.Bridge);
        Shell.Check(ip, ["link", "add", LocalNames.Bridge, "type", "bridge"]);
        Shell.Check(ip, ["addr", "add", $"{LocalNames.GatewayAddress}/{LocalNames.PodPrefixLength}", "dev", LocalNames.Bridge]);
        Shell.Check(ip, ["link", "set", LocalNames.Bridge, "up"]);
        foreach (var rule in Firewall.RootRules())
        {
            if (Shell.Run(iptables, Firewall.CheckArgs(rule)).Ok)
            {
                continue;
            }

            store.Update(s => s.RootRules.Add(rule));
            Shell.Check(iptables, Firewall.InsertArgs(rule));
        }
    }

    /// <summary>
    /// Gives a pod its namespace, veth (host end in the bridge, pod end renamed eth0), address,
    /// default route via the bridge, hosts file and capture rules. The pod's address must already
    /// be recorded.
    /// </summary>
    public void CreatePod(StateStore store, PodRecord pod, string hostsFile, ProxyPorts ports, bool capture = true)
    {
        CreatePod(store, pod, hostsFile, HostsFile.RenderResolvConf(pod.Namespace), ports, capture);
    }

    /// <param name="capture">False for a pod without a sidecar: no iptables rules, its traffic goes out as the app sends it.</param>
    public void CreatePod(StateStore store, PodRecord pod, string hostsFile, string resolvConf, ProxyPorts ports, bool capture = true)
    {
        var netns = LocalNames.NetnsName(pod.Name);
        store.Update(_ =>
        {
            pod.Netns = netns;
            pod.State = PodStates.Network;
        });
        Shell.Check(ip, ["netns", "add", netns]);

        var veth = LocalNames.VethName(pod.Name);
        for (var salt = 1; LinkExists(veth) || store.Read(s => s.Pods.Any(p => p != pod && p.HostVeth == veth)); salt++)
        {
            veth = LocalNames.VethName(pod.Name, salt);
        }

        store.Update(_ => pod.HostVeth = veth);
        Shell.Check(ip, ["link", "add", veth, "type", "veth", "peer", "name", LocalNames.PodInterface, "netns", netns]);
        Shell.Check(ip, ["link", "set", veth, "master", LocalNames.Bridge]);
        Shell.Check(ip, ["link", "set", veth, "up"]);
        Shell.Check(ip, ["-n", netns, "link", "set", "lo", "up"]);
        Shell.Check(ip, ["-n", netns, "addr", "add", $"{pod.Address}/{LocalNames.PodPrefixLength}", "dev", LocalNames.PodInterface]);
        Shell.Check(ip, ["-n", netns, "link", "set", LocalNames.PodInterface, "up"]);
        Shell.Check(ip, ["-n", netns, "route", "add", "default", "via", LocalNames.GatewayAddress, "dev", LocalNames.PodInterface]);

        var etc = LocalNames.EtcNetnsDir(netns, etcNetnsRoot);
        store.Update(_ => pod.EtcDir = etc);
        WriteHosts(etc, hostsFile);
        WriteFile(etc, "resolv.conf", resolvConf);

        if (capture)
        {
            Shell.Check(ip, ["netns", "exec", netns, iptablesRestore, "--noflush"], stdin: Firewall.RenderPodRules(ports));
        }
    }

    /// <summary>Rewrites a pod's hosts file (the registry's VIPs can change after start).</summary>
    public static void WriteHosts(string etcDir, string hostsFile) => WriteFile(etcDir, "hosts", hostsFile);

    private static void WriteFile(string etcDir, string name, string text)
    {
        Directory.CreateDirectory(etcDir);
        var path = Path.Combine(etcDir, name);
        File.WriteAllText(path + ".tmp", text);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    /// <summary>Pids of the processes inside a namespace.</summary>
    public IReadOnlyList<int> NetnsPids(string netns)
    {
        var result = Shell.Run(ip, ["netns", "pids", netns]);
        return result.Ok
            ? result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList()
            : [];
    }

    /// <summary>Deletes a pod's namespace (which takes its veth pair along), veth and /etc/netns directory; errors are collected. True when something was there.</summary>
    public bool DeletePod(PodRecord pod, List<string> problems)
    {
        var found = false;
        if (pod.Netns is { } netns && NetnsList().Contains(netns))
        {
            found = true;
            KillNetnsProcesses(netns);
            Try(problems, () => Shell.Check(ip, ["netns", "del", netns]));
        }

        if (pod.HostVeth is { } veth && LocalNames.IsSkeinLink(veth) && LinkExists(veth))
        {
            found = true;
            DeleteLink(veth, problems);
        }

        if (pod.EtcDir is { } etc && Path.GetFileName(etc) is { } name && LocalNames.IsSkeinNetns(name) && Directory.Exists(etc))
        {
            found = true;
            Try(problems, () => Directory.Delete(etc, recursive: true));
        }

        return found;
    }

    /// <summary>Removes the recorded root rules and the bridge; returns what it found to remove.</summary>
    public IReadOnlyList<string> DeleteRoot(RunState state, List<string> problems)
    {
        var removed = new List<string>();
        foreach (var rule in state.RootRules)
        {
            while (Shell.Run(iptables, Firewall.CheckArgs(rule)).Ok)
            {
                var result = Shell.Run(iptables, Firewall.DeleteArgs(rule));
                if (!result.Ok)
                {
                    problems.Add(result.Stderr.Trim());
                    break;
                }

                removed.Add($"iptables rule {rule.Chain} {string.Join(' ', rule.Spec)}");
            }
        }

        if (state.Bridge is { } bridge && bridge == LocalNames.Bridge && LinkExists(bridge) && DeleteLink(bridge, problems))
        {
            removed.Add($"bridge {bridge}");
        }

        return removed;
    }

    /// <summary>
    /// Deletes whatever carries Skein's names, with or without state: namespaces "skein-*" (and
    /// the processes in them), links "skv??????" and "skein0", root iptables rules with the
    /// comment "skein", and /etc/netns/skein-* directories. Returns what it removed.
    /// </summary>
    public IReadOnlyList<string> Sweep(List<string> problems)
    {
        var removed = new List<string>();
        foreach (var netns in NetnsList().Where(LocalNames.IsSkeinNetns))
        {
            KillNetnsProcesses(netns);
            if (Try(problems, () => Shell.Check(ip, ["netns", "del", netns])))
            {
                removed.Add($"netns {netns}");
            }
        }

        foreach (var link in Links().Where(LocalNames.IsSkeinLink).OrderBy(l => l == LocalNames.Bridge ? 1 : 0))
        {
            // A veth disappears with its namespace's peer, asynchronously: gone by now is fine.
            if (LinkExists(link) && DeleteLink(link, problems))
            {
                removed.Add($"link {link}");
            }
        }

        foreach (var table in new[] { "filter", "nat" })
        {
            var listing = Shell.Run(iptables, ["-w", "-t", table, "-S"]);
            if (!listing.Ok)
            {
                continue;
            }

            foreach (var args in Firewall.SweepDeleteArgs(table, listing.Stdout))
            {
                if (Try(problems, () => Shell.Check(iptables, args)))
                {
                    removed.Add($"iptables rule {string.Join(' ', args.Skip(4))}");
                }
            }
        }

        if (Directory.Exists(etcNetnsRoot))
        {
            foreach (var dir in Directory.EnumerateDirectories(etcNetnsRoot).Where(d => LocalNames.IsSkeinNetns(Path.GetFileName(d))))
            {
                if (Try(problems, () => Directory.Delete(dir, recursive: true)))
                {
                    removed.Add($"dir {dir}");
                }
            }
        }

        return removed;
    }

    /// <summary>Anything with Skein's names on this host: a mesh is up or was not cleaned up.</summary>
    public IReadOnlyList<string> Leftovers() =>
        [
            .. NetnsList().Where(LocalNames.IsSkeinNetns).Select(n => $"netns {n}"),
            .. Links().Where(LocalNames.IsSkeinLink).Select(l => $"link {l}"),
        ];

    /// <summary>Deletes a link; one that vanished meanwhile (its namespace went) counts as deleted.</summary>
    private bool DeleteLink(string name, List<string> problems)
    {
        var result = Shell.Run(ip, ["link", "del", name]);
        if (result.Ok || !LinkExists(name))
        {
            return true;
        }

        problems.Add($"ip link del {name} failed ({result.ExitCode}): {result.Stderr.Trim()}");
        return false;
    }

    private void KillNetnsProcesses(string netns)
    {
        var pids = NetnsPids(netns);
        foreach (var pid in pids)
        {
            Native.Signal(pid, Native.SigKill);
        }

        // Namespace deletion only unmounts; wait (bounded) for the killed processes so nothing lingers.
        for (var i = 0; i < 100 && NetnsPids(netns).Count > 0; i++)
        {
            Thread.Sleep(20);
        }
    }

    private static bool Try(List<string> problems, Action action)
    {
        try
        {
            action();
            return true;
        }
        catch (Exception ex) when (ex is ShellException or IOException or UnauthorizedAccessException)
        {
            problems.Add(ex.Message);
            return false;
        }
    }
}
