using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Skein.Cli.Local;

/// <summary>
/// `skein up`: starts skein-control, gives every Workload replica a pod (network namespace,
/// veth on the skein0 bridge, hosts file, capture rules), starts its sidecar, waits until the
/// sidecar is ready, registers the instance, then starts the app. Everything it creates is
/// recorded in the run directory first, so `skein down` can remove it after any failure.
/// </summary>
internal sealed partial class LocalRuntime
{
    private readonly UpRequest request;
    private readonly IUpProgress progress;
    private readonly MeshBinaries binaries;
    private readonly StateStore store;
    private readonly HostNetwork? network;
    private readonly List<Process> started = [];

    private LocalRuntime(UpRequest request, IUpProgress progress, MeshBinaries binaries, StateStore store, HostNetwork? network)
    {
        this.request = request;
        this.progress = progress;
        this.binaries = binaries;
        this.store = store;
        this.network = network;
    }

    public string RunDir => store.RunDir;

    private bool Netns => network is not null;

    private string LogDir => Path.Combine(store.RunDir, "logs");

    /// <summary>Checks preconditions, then creates the mesh. Throws <see cref="LocalRuntimeException"/> before anything was created.</summary>
    public static async Task<UpResult> UpAsync(UpRequest request, IUpProgress progress, CancellationToken cancel)
    {
        var runDir = Path.GetFullPath(request.RunDir);
        if (File.Exists(StateStore.PathIn(runDir)))
        {
            throw new LocalRuntimeException($"a mesh is already up in {runDir} (or was not cleaned up): run `skein down --run-dir {runDir}` first");
        }

        HostNetwork? network = null;
        if (!request.Loopback)
        {
            if (HostNetwork.Unavailable() is { } reason)
            {
                throw new LocalRuntimeException($"cannot run pods in network namespaces: {reason}. Run as root, or use --loopback");
            }

            network = HostNetwork.Create();
            var leftovers = network.Leftovers();
            if (leftovers.Count > 0)
            {
                throw new LocalRuntimeException($"Skein's network objects already exist ({string.Join(", ", leftovers)}): another mesh is up, or one was not cleaned up; run `skein down`");
            }
        }

        var (binaries, missing) = request.Binaries is { } given ? (given, null) : MeshBinaries.Locate();
        if (binaries is null)
        {
            throw new LocalRuntimeException(missing!);
        }

        var plan = PodPlan.From(request.Resources);
        var duplicate = plan.GroupBy(p => p.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new LocalRuntimeException($"two workloads would both run a pod named {duplicate.Key}; rename one");
        }

        Directory.CreateDirectory(runDir);
        RotateLogs(Path.Combine(runDir, "logs"));
        var store = new StateStore(runDir, new RunState
        {
            Mode = network is null ? RuntimeModes.Loopback : RuntimeModes.Netns,
            StartedAt = DateTimeOffset.Now,
            ControlApi = $"http://127.0.0.1:{request.ControlHttpPort}",
            Up = ProcessLauncher.StartTime(Environment.ProcessId) is { } self ? new ProcessRecord("skein up", Environment.ProcessId, self, "") : null,
        });
        store.Update(_ => { });
        var runtime = new LocalRuntime(request, progress, binaries, store, network);
        return await runtime.RunAsync(plan, cancel).ConfigureAwait(false);
    }

    private async Task<UpResult> RunAsync(IReadOnlyList<PodSpec> plan, CancellationToken cancel)
    {
        var errors = new List<string>();
        var fatal = false;
        try
        {
            if (network is not null)
            {
                progress.Step($"creating bridge {LocalNames.Bridge} ({LocalNames.GatewayAddress}/{LocalNames.PodPrefixLength})");
                network.CreateBridge(store);
            }

            using var control = ControlPlaneClient.Create(store.State.ControlApi!);
            await StartControlPlaneAsync(control, cancel).ConfigureAwait(false);

            progress.Step("applying config");
            await control.ApplyConfigAsync(ConcatenateConfig(request.ConfigFiles), cancel).ConfigureAwait(false);
            var services = await control.ServicesAsync(cancel).ConfigureAwait(false);

            var pods = new List<(PodSpec Spec, PodRecord Record)>();
            var block = 0;
            foreach (var spec in plan)
            {
                var record = new PodRecord { Name = spec.Name, Workload = spec.Workload, Namespace = spec.Namespace, Version = spec.Version };
                if (!Netns)
                {
                    block = LoopbackPorts.NextFreeBlock(block);
                    record.Ports = LoopbackPorts.ForBlock(block++, spec.Ports.Select(p => p.Port!.Value).ToList());
                }

                store.Update(s =>
                {
                    record.Address = Netns ? AddressAllocator.Next(s.Addresses).ToString() : "127.0.0.1";
                    s.Pods.Add(record);
                });
                pods.Add((spec, record));
                progress.Pod(spec.Name, PodStates.Pending, record.Address);
            }

            foreach (var (spec, record) in pods)
            {
                progress.Pod(spec.Name, PodStates.Network, record.Address);
                network?.CreatePod(store, record, HostsFile.Render(spec.Name, spec.Namespace, record.Address, services), ProxyPorts.Default, Sidecar(spec));
            }

            using var gate = new SemaphoreSlim(Math.Max(1, request.Parallelism));
            var tasks = pods.Select(async pod =>
            {
                await gate.WaitAsync(cancel).ConfigureAwait(false);
                try
                {
                    await StartPodAsync(control, pod.Spec, pod.Record, cancel).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is LocalRuntimeException or ControlPlaneException or ShellException or HttpRequestException or IOException)
                {
                    store.Update(_ =>
                    {
                        pod.Record.State = PodStates.Failed;
                        pod.Record.Error = ex.Message;
                    });
                    progress.Pod(pod.Spec.Name, PodStates.Failed, FirstLine(ex.Message));
                    lock (errors)
                    {
                        errors.Add($"pod {pod.Spec.Name}: {ex.Message}");
                    }
                }
                finally
                {
                    gate.Release();
                }
            }).ToList();
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is LocalRuntimeException or ControlPlaneException or ShellException or HttpRequestException or IOException or InvalidOperationException)
        {
            errors.Add(ex.Message);
            fatal = true;
        }
        finally
        {
            // The processes live on in their own sessions; only the handles go.
            foreach (var process in started)
            {
                process.Dispose();
            }
        }

        store.Update(s => s.Up = null);
        return new UpResult(store.Read(Snapshot), errors, fatal);
    }

    private async Task StartControlPlaneAsync(ControlPlaneClient control, CancellationToken cancel)
    {
        progress.Step($"starting skein-control (xDS :{request.XdsPort}, API :{request.ControlHttpPort})");
        // The data dir keeps config and instances across restarts of skein-control within one run;
        // a new run starts from its own config only.
        var dataDir = Path.Combine(store.RunDir, "control");
        if (Directory.Exists(dataDir))
        {
            Directory.Delete(dataDir, recursive: true);
        }

        Directory.CreateDirectory(dataDir);
        var spec = new LaunchSpec
        {
            Role = "control",
            Command = [.. binaries.Control, .. ControlArguments(dataDir)],
            Environment = BaseEnvironment(),
            LogFile = Path.Combine(LogDir, "control.log"),
            WorkingDirectory = store.RunDir,
        };
        var record = Launch(spec);
        store.Update(s =>
        {
            s.Control = record;
            s.ControlLaunch = spec;
        });
        await WaitForControlPlaneAsync(control, record, request.ReadyTimeout, cancel).ConfigureAwait(false);
    }

    /// <summary>
    /// Stops skein-control and starts it again as `skein up` did, keeping its data directory (config,
    /// instances, VIPs), so that every proxy reconnects and resyncs. Pods and apps are not touched.
    /// </summary>
    public static async Task<ProcessRecord> RestartControlPlaneAsync(string runDir, TimeSpan readyTimeout, CancellationToken cancel)
    {
        var (state, problem) = StateStore.Load(runDir);
        if (state?.ControlLaunch is not { } spec)
        {
            throw new LocalRuntimeException(problem ?? $"no skein-control was started from {runDir}");
        }

        var store = new StateStore(runDir, state);
        if (state.Control is { } old)
        {
            await ProcessLauncher.StopAsync([old], TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }

        var (_, record) = ProcessLauncher.Start(spec);
        store.Update(s => s.Control = record);
        using var control = ControlPlaneClient.Create(state.ControlApi!);
        await WaitForControlPlaneAsync(control, record, readyTimeout, cancel).ConfigureAwait(false);
        return record;
    }

    private static async Task WaitForControlPlaneAsync(ControlPlaneClient control, ProcessRecord record, TimeSpan readyTimeout, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        while (!await control.IsUpAsync(cancel).ConfigureAwait(false))
        {
            if (!ProcessLauncher.IsAlive(record))
            {
                throw new LocalRuntimeException($"skein-control exited during start; the end of {record.LogFile}:\n{ProcessLauncher.Tail(record.LogFile)}");
            }

            if (clock.Elapsed > readyTimeout)
            {
                throw new LocalRuntimeException($"skein-control did not answer on {control.BaseAddress} within {readyTimeout.TotalSeconds:0} s; the end of {record.LogFile}:\n{ProcessLauncher.Tail(record.LogFile)}");
            }

            await Task.Delay(100, cancel).ConfigureAwait(false);
        }
    }

    /// <summary>skein-control's flags. Its listeners must be reachable from pods on the bridge address.</summary>
    private IReadOnlyList<string> ControlArguments(string dataDir) =>
    [
        "--xds-port", request.XdsPort.ToString(CultureInfo.InvariantCulture),
        // Pods reach ADS on the bridge address; in loopback mode nothing beyond this host needs it.
        "--xds-address", Netns ? LocalNames.GatewayAddress : "127.0.0.1",
        "--secure-xds-port", request.SecureXdsPort.ToString(CultureInfo.InvariantCulture),
        "--http-port", request.ControlHttpPort.ToString(CultureInfo.InvariantCulture),
        "--http-address", "127.0.0.1",
        "--data-dir", dataDir,
    ];

    private ProcessRecord Launch(LaunchSpec spec)
    {
        var (process, record) = ProcessLauncher.Start(spec);
        lock (started)
        {
            started.Add(process);
        }

        return record;
    }

    /// <summary>What every process gets: a PATH with the sample apps first, and the run-dir tag the sweep looks for.</summary>
    private Dictionary<string, string> BaseEnvironment()
    {
        var path = string.Join(':', binaries.AppPath.Append("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = path,
            ["HOME"] = Environment.GetEnvironmentVariable("HOME") ?? "/root",
            ["LANG"] = Environment.GetEnvironmentVariable("LANG") ?? "C.UTF-8",
            [LocalNames.RunDirEnvironment] = store.RunDir,
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        };
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root)
        {
            env["DOTNET_ROOT"] = root;
        }

        return env;
    }

    /// <summary>
    /// Rewrites every pod's hosts file from the control plane's registry: for `skein apply`, after
    /// it adds or removes a Service, so the new name resolves in pods. Returns how many files were written
    /// (0 when no netns mesh is up in <paramref name="runDir"/>).
    /// </summary>
    public static async Task<int> RefreshHostsAsync(string runDir, CancellationToken cancel)
    {
        var (state, _) = StateStore.Load(runDir);
        if (state is null || state.Mode != RuntimeModes.Netns || state.ControlApi is null)
        {
            return 0;
        }

        using var control = ControlPlaneClient.Create(state.ControlApi);
        var services = await control.ServicesAsync(cancel).ConfigureAwait(false);
        var written = 0;
        foreach (var pod in state.Pods.Where(p => p.EtcDir is not null && Directory.Exists(p.EtcDir)))
        {
            HostNetwork.WriteHosts(pod.EtcDir!, HostsFile.Render(pod.Name, pod.Namespace, pod.Address, services));
            written++;
        }

        return written;
    }

    /// <summary>All config files as one multi-document YAML stream (JSON documents are YAML too).</summary>
    public static string ConcatenateConfig(IEnumerable<string> files)
    {
        var text = new StringBuilder();
        foreach (var file in files)
        {
            text.Append("---\n# ").Append(file).Append('\n');
            var content = File.ReadAllText(file);
            text.Append(content);
            if (!content.EndsWith('\n'))
            {
                text.Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>The config files a list of -f paths names, in the order ConfigLoader reads them.</summary>
    public static IReadOnlyList<string> ConfigFilesOf(IEnumerable<string> paths, bool recursive)
    {
        string[] extensions = [".yaml", ".yml", ".json"];
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                files.AddRange(Directory.EnumerateFiles(path, "*", recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly)
                    .Where(f => extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                    .Order(StringComparer.Ordinal));
            }
            else
            {
                files.Add(path);
            }
        }

        return files;
    }

    /// <summary>The previous run's logs move to logs.previous, so errors quote this run's lines only.</summary>
    private static void RotateLogs(string logs)
    {
        if (!Directory.Exists(logs))
        {
            return;
        }

        var previous = logs + ".previous";
        if (Directory.Exists(previous))
        {
            Directory.Delete(previous, recursive: true);
        }

        Directory.Move(logs, previous);
    }

    private static RunState Snapshot(RunState state) => StateStore.Deserialize(StateStore.Serialize(state))!;

    private static string FirstLine(string text) => text.Split('\n', 2)[0];
}
