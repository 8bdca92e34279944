namespace Skein.Cli.Local;

/// <summary>What `skein down` did.</summary>
internal sealed record DownResult(int Processes, IReadOnlyList<string> Removed, IReadOnlyList<string> Problems, string? StateProblem);

/// <summary>
/// `skein down`: stops apps, then sidecars, then the control plane (SIGTERM, SIGKILL after a
/// grace period), removes pods' namespaces, veths and hosts directories, the root rules and the
/// bridge, then sweeps anything else carrying Skein's names, so it also cleans up after a crash
/// or a lost state file. Running it twice is harmless.
/// </summary>
internal static class Teardown
{
    public static async Task<DownResult> DownAsync(string runDir, TimeSpan grace, Action<string>? report = null)
    {
        runDir = Path.GetFullPath(runDir);
        report ??= _ => { };
        var problems = new List<string>();
        var removed = new List<string>();
        var (state, stateProblem) = StateStore.Load(runDir);

        // Processes first, so nothing holds a namespace or re-registers while it goes away;
        // a `skein up` still starting pods goes before all of them, at once, so it creates nothing more.
        var stopped = 0;
        if (state?.Up is { } up && up.Pid != Environment.ProcessId && ProcessLauncher.IsAlive(up))
        {
            report($"stopping the running `skein up` (pid {up.Pid})");
            Native.Signal(up.Pid, Native.SigKill);
            for (var i = 0; i < 100 && ProcessLauncher.IsAlive(up); i++)
            {
                await Task.Delay(20).ConfigureAwait(false);
            }

            (state, stateProblem) = StateStore.Load(runDir);
        }

        if (state is not null)
        {
            var apps = state.Pods.Where(p => p.App is not null).Select(p => p.App!).ToList();
            var proxies = state.Pods.Where(p => p.Proxy is not null).Select(p => p.Proxy!).ToList();
            var control = state.Control is null ? new List<ProcessRecord>() : [state.Control];
            foreach (var (group, name) in new[] { (apps, "apps"), (proxies, "sidecars"), (control, "skein-control") })
            {
                var live = group.Where(ProcessLauncher.IsAlive).ToList();
                if (live.Count > 0)
                {
                    report($"stopping {live.Count} {(live.Count == 1 && name != "skein-control" ? name.TrimEnd('s') : name)}");
                    await ProcessLauncher.StopAsync(live, grace).ConfigureAwait(false);
                    stopped += live.Count;
                }
            }
        }

        // Whatever else this run directory started (its state lost or written too late).
        if (OperatingSystem.IsLinux())
        {
            var tagged = ProcessLauncher.FindTagged(runDir)
                .Select(pid => ProcessLauncher.StartTime(pid) is { } start ? new ProcessRecord("tagged", pid, start, "") : null)
                .OfType<ProcessRecord>()
                .ToList();
            if (tagged.Count > 0)
            {
                report($"stopping {tagged.Count} more process(es) started from {runDir}");
                await ProcessLauncher.StopAsync(tagged, grace).ConfigureAwait(false);
                stopped += tagged.Count;
            }
        }

        var netnsMode = state is null || state.Mode == RuntimeModes.Netns;
        if (netnsMode && HostNetwork.Unavailable() is null)
        {
            var network = HostNetwork.Create();
            if (state is not null)
            {
                foreach (var pod in state.Pods)
                {
                    if (network.DeletePod(pod, problems))
                    {
                        removed.Add($"pod {pod.Name}");
                    }
                }

                removed.AddRange(network.DeleteRoot(state, problems));
            }

            var swept = network.Sweep(problems);
            removed.AddRange(swept);
        }
        else if (netnsMode && state is not null && state.Pods.Any(p => p.Netns is not null))
        {
            problems.Add($"cannot remove network namespaces: {HostNetwork.Unavailable()}; run `skein down` as root");
        }

        if (problems.Count == 0)
        {
            foreach (var file in new[] { StateStore.PathIn(runDir), StateStore.PathIn(runDir) + ".tmp" })
            {
                if (File.Exists(file))
                {
                    File.Delete(file);
                }
            }
        }

        return new DownResult(stopped, removed, problems, stateProblem);
    }
}
