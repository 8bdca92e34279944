using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Skein.Cli.Local;

/// <summary>What `skein up` was asked to run.</summary>
internal sealed record UpRequest
{
    public required IReadOnlyList<Skein.Api.Model.Resource> Resources { get; init; }

    /// <summary>The config files, concatenated and sent to skein-control as they were written.</summary>
    public required IReadOnlyList<string> ConfigFiles { get; init; }

    public required string RunDir { get; init; }

    public bool Loopback { get; init; }

    /// <summary>Wait until every app is ready (sidecars are always awaited: apps start after them).</summary>
    public bool Wait { get; init; } = true;

    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public int XdsPort { get; init; } = 15010;

    /// <summary>skein-control's TLS port: ADS and the certificate service sidecars get their certificates from.</summary>
    public int SecureXdsPort { get; init; } = 15012;

    public int ControlHttpPort { get; init; } = 15014;

    /// <summary>The lifetime sidecars ask the CA for (<c>--cert-ttl</c>); null: the CA's default.</summary>
    public TimeSpan? CertificateLifetime { get; init; }

    public int Parallelism { get; init; } = 4;

    /// <summary>The programs to run; null: <see cref="MeshBinaries.Locate"/>.</summary>
    public MeshBinaries? Binaries { get; init; }
}

/// <summary>The mesh after `skein up`: pods as recorded, and what went wrong.</summary>
/// <param name="Fatal">The mesh itself failed (control plane, config, bridge), not just some pods.</param>
internal sealed record UpResult(RunState State, IReadOnlyList<string> Errors, bool Fatal = false)
{
    public bool Ok => Errors.Count == 0;
}

/// <summary>A condition that stops `skein up` with a message for the user (no stack trace).</summary>
internal sealed class LocalRuntimeException(string message) : Exception(message);

/// <summary>
/// `skein up`: starts skein-control, gives every Workload replica a pod (network namespace,
/// veth on the skein0 bridge, hosts file, capture rules), starts its sidecar, waits until the
/// sidecar is ready, registers the instance, then starts the app. Everything it creates is
/// recorded in the run directory first, so `skein down` can remove it after any failure.
/// </summary>
internal sealed class LocalRuntime
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

    private async Task StartPodAsync(ControlPlaneClient control, PodSpec spec, PodRecord record, CancellationToken cancel)
    {
        var ports = record.Ports ?? ProxyPorts.Default;
        var netns = record.Netns;
        var address = record.Address!;

        store.Update(_ => record.State = PodStates.StartingProxy);
        progress.Pod(spec.Name, PodStates.StartingProxy, address);
        var podDir = Path.Combine(store.RunDir, "pods", spec.Name);
        if (Directory.Exists(podDir))
        {
            Directory.Delete(podDir, recursive: true);
        }

        Directory.CreateDirectory(podDir);
        if (!Sidecar(spec))
        {
            await StartAppAsync(control, spec, record, ports, Registration(spec, address, ports, healthy: false, loopback: false) with { Sidecar = false }, cancel)
                .ConfigureAwait(false);
            return;
        }

        var bootstrap = Path.Combine(podDir, "bootstrap.json");
        await File.WriteAllTextAsync(bootstrap, RenderBootstrap(spec, address, !Netns, ports), cancel).ConfigureAwait(false);
        var identity = await WriteIdentityAsync(control, spec, podDir, cancel).ConfigureAwait(false);
        var proxy = Launch(new LaunchSpec
        {
            Role = "proxy",
            Command = [.. binaries.Proxy, .. ProxyArguments(spec, address, ports, bootstrap), .. identity],
            Environment = ProxyEnvironment(spec),
            LogFile = Path.Combine(LogDir, $"{spec.Name}-proxy.log"),
            Netns = netns,
            // Only capture needs the sidecar under its own uid; loopback mode may run without root.
            Uid = Netns ? LocalNames.ProxyUid : null,
            WorkingDirectory = "/",
        });
        store.Update(_ => record.Proxy = proxy);
        await WaitForProxyAsync(spec, address, ports, proxy, cancel).ConfigureAwait(false);

        await StartAppAsync(control, spec, record, ports, Registration(spec, address, ports, healthy: false, loopback: !Netns), cancel).ConfigureAwait(false);
    }

    /// <summary>
    /// A pod runs without a sidecar when its Workload opts out (Istio's <c>sidecar.istio.io/inject: "false"</c>).
    /// Only with network namespaces: in loopback mode the app reaches the mesh only through its sidecar as HTTP proxy.
    /// </summary>
    private bool Sidecar(PodSpec spec) => spec.Sidecar || !Netns;

    /// <summary>Registers the instance (not ready yet), starts the app, waits for it, then marks the instance healthy.</summary>
    private async Task StartAppAsync(
        ControlPlaneClient control, PodSpec spec, PodRecord record, ProxyPorts ports, InstanceRegistration registration, CancellationToken cancel)
    {
        var netns = record.Netns;
        var address = record.Address!;
        await control.RegisterAsync(registration, cancel).ConfigureAwait(false);

        store.Update(_ => record.State = PodStates.StartingApp);
        progress.Pod(spec.Name, PodStates.StartingApp, address);
        var app = Launch(new LaunchSpec
        {
            Role = "app",
            Command = ports.AppPorts is { } moved ? LoopbackPorts.RewriteCommand(spec.Command, moved) : spec.Command,
            Environment = AppEnvironment(spec, address, ports),
            LogFile = Path.Combine(LogDir, $"{spec.Name}-app.log"),
            Netns = netns,
            WorkingDirectory = "/",
        });
        store.Update(_ => record.App = app);
        if (request.Wait)
        {
            await WaitForAppAsync(spec, netns, ports, app, cancel).ConfigureAwait(false);
        }

        await control.RegisterAsync(registration with { Healthy = true }, cancel).ConfigureAwait(false);
        store.Update(_ => record.State = PodStates.Running);
        progress.Pod(spec.Name, PodStates.Running, address);
    }

    /// <summary>
    /// skein-proxy's flags. Who the proxy is (workload, labels, app ports, mode) travels as xDS
    /// node metadata in a bootstrap file, under the keys skein-control reads (Istio's names).
    /// </summary>
    private List<string> ProxyArguments(PodSpec spec, string address, ProxyPorts ports, string bootstrap)
    {
        var args = new List<string>
        {
            "--bootstrap", bootstrap,
            "--xds-address", $"http://{(Netns ? LocalNames.GatewayAddress : "127.0.0.1")}:{request.XdsPort}",
            "--node-id", LocalNames.NodeId(address, spec.Name, spec.Namespace),
            "--mode", Netns ? "transparent" : "explicit",
            "--outbound-port", ports.Outbound.ToString(CultureInfo.InvariantCulture),
            "--inbound-port", ports.Inbound.ToString(CultureInfo.InvariantCulture),
            "--admin-port", ports.Admin.ToString(CultureInfo.InvariantCulture),
            "--stats-port", ports.Stats.ToString(CultureInfo.InvariantCulture),
            "--health-port", ports.Health.ToString(CultureInfo.InvariantCulture),
            "--access-log",
        };
        if (spec.Ports.Count > 0)
        {
            args.Add("--app-port");
            args.Add(AppPort(ports, spec.Ports[0].Port!.Value).ToString(CultureInfo.InvariantCulture));
        }

        return args;
    }

    /// <summary>
    /// The sidecar's identity material, as Kubernetes mounts a projected service-account token and Istio's root
    /// configmap: a bootstrap token for the pod's service account (<c>identity/token</c>, mode 0600, owned by the
    /// sidecar's uid) and the root certificate(s) that the CA's TLS certificate chains to (<c>identity/root-cert.pem</c>).
    /// Returns the sidecar's flags that point at them and at the CA (skein-control's TLS port).
    /// </summary>
    private async Task<string[]> WriteIdentityAsync(ControlPlaneClient control, PodSpec spec, string podDir, CancellationToken cancel)
    {
        var (token, root) = await control.BootstrapTokenAsync(spec.Namespace, spec.ServiceAccount, cancel).ConfigureAwait(false);
        var dir = Path.Combine(podDir, "identity");
        Directory.CreateDirectory(dir);
        var tokenFile = Path.Combine(dir, "token");
        var rootFile = Path.Combine(dir, "root-cert.pem");
        await using (var stream = new FileStream(tokenFile, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(token), cancel).ConfigureAwait(false);
        }

        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await File.WriteAllTextAsync(rootFile, root, cancel).ConfigureAwait(false);
        if (Netns)
        {
            // The sidecar runs as uid 1337: the token is its own and nobody else's (0600).
            Native.Chown(tokenFile, LocalNames.ProxyUid, LocalNames.ProxyUid);
        }

        var host = Netns ? LocalNames.GatewayAddress : "127.0.0.1";
        string[] flags = ["--ca-address", $"https://{host}:{request.SecureXdsPort}", "--ca-root", rootFile, "--token-file", tokenFile];
        return request.CertificateLifetime is { } ttl
            ? [.. flags, "--cert-ttl", $"{(long)ttl.TotalSeconds}s"]
            : flags;
    }

    /// <summary>Where the app really listens for a declared port (loopback mode moves ports apart).</summary>
    private static int AppPort(ProxyPorts ports, int declared) =>
        ports.AppPorts is { } map && map.TryGetValue(declared, out var real) ? real : declared;

    /// <summary>The pod's bootstrap: the xDS node with its metadata (see skein-control's ProxyNode).</summary>
    public static string RenderBootstrap(PodSpec spec, string address, bool loopback, ProxyPorts ports)
    {
        var metadata = new JsonObject
        {
            ["NAMESPACE"] = spec.Namespace,
            ["WORKLOAD_NAME"] = spec.Workload,
            ["INSTANCE_ID"] = spec.Name,
            ["LABELS"] = new JsonObject(spec.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => KeyValuePair.Create(l.Key, (JsonNode?)JsonValue.Create(l.Value)))),
            ["SERVICE_ACCOUNT"] = spec.ServiceAccount,
            ["APP_PORTS"] = new JsonArray(spec.Ports.Select(p =>
            {
                var port = new JsonObject { ["port"] = AppPort(ports, p.Port!.Value) };
                if (p.Name is not null)
                {
                    port["name"] = p.Name;
                }

                if (p.Protocol is not null)
                {
                    port["protocol"] = p.Protocol;
                }

                return (JsonNode?)port;
            }).ToArray()),
            ["INSTANCE_IPS"] = address,
            ["MODE"] = loopback ? "loopback" : "sidecar",
            // Where skein-control's telemetry scraper finds /stats/prometheus (Istio's key).
            ["ENVOY_PROMETHEUS_PORT"] = ports.Stats,
        };
        var bootstrap = new JsonObject
        {
            ["node"] = new JsonObject
            {
                ["id"] = LocalNames.NodeId(address, spec.Name, spec.Namespace),
                ["metadata"] = metadata,
            },
        };
        return bootstrap.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }

    private static InstanceRegistration Registration(PodSpec spec, string address, ProxyPorts ports, bool healthy, bool loopback) => new()
    {
        Id = spec.Name,
        Workload = spec.Workload,
        Namespace = spec.Namespace,
        Address = address,
        // The declared ports, so Services' targetPorts match; in loopback mode endpoints are the sidecar's inbound address anyway.
        Ports = spec.Ports.Select(p => new InstancePort(p.Name, p.Port!.Value, p.Protocol)).ToList(),
        Labels = spec.Labels,
        ServiceAccount = spec.ServiceAccount,
        Healthy = healthy,
        SidecarInboundAddress = loopback ? $"127.0.0.1:{ports.Inbound}" : null,
    };

    private async Task WaitForProxyAsync(PodSpec spec, string address, ProxyPorts ports, ProcessRecord proxy, CancellationToken cancel)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(2) };
        var url = new Uri($"http://{(Netns ? address : "127.0.0.1")}:{ports.Health}/healthz/ready");
        var clock = Stopwatch.StartNew();
        var last = "no answer";
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(url, cancel).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }

                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false)}".Trim();
            }
            catch (HttpRequestException ex)
            {
                last = ex.Message;
            }
            catch (TaskCanceledException) when (!cancel.IsCancellationRequested)
            {
                last = "timed out";
            }

            if (!ProcessLauncher.IsAlive(proxy))
            {
                throw new LocalRuntimeException($"its sidecar exited before it was ready; the end of {proxy.LogFile}:\n{ProcessLauncher.Tail(proxy.LogFile)}");
            }

            if (clock.Elapsed > request.ReadyTimeout)
            {
                throw new LocalRuntimeException($"its sidecar was not ready within {request.ReadyTimeout.TotalSeconds:0} s ({url}: {last}); the end of {proxy.LogFile}:\n{ProcessLauncher.Tail(proxy.LogFile)}");
            }

            await Task.Delay(100, cancel).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The app is ready when each declared port accepts a connection inside the pod (over
    /// loopback, which is never captured), and its HTTP health check, if any, answers 2xx/3xx.
    /// A workload without ports (a client pod) is ready once it has been up for a moment.
    /// </summary>
    private async Task WaitForAppAsync(PodSpec spec, string? netns, ProxyPorts ports, ProcessRecord app, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        var pending = spec.Ports.Select(p => AppPort(ports, p.Port!.Value)).ToList();
        using var health = netns is null ? new HttpClient { Timeout = TimeSpan.FromSeconds(2) } : NetnsSocket.CreateHttpClient(netns, TimeSpan.FromSeconds(2));
        var healthUrl = spec.HealthCheck is { } check && (check.Port is { } checkPort ? AppPort(ports, checkPort) : pending.FirstOrDefault()) is > 0 and var port
            ? new Uri($"http://127.0.0.1:{port}{check.Path ?? "/"}")
            : null;
        var last = "";
        if (pending.Count == 0 && healthUrl is null)
        {
            await Task.Delay(200, cancel).ConfigureAwait(false);
        }

        while (true)
        {
            if (!ProcessLauncher.IsAlive(app))
            {
                throw new LocalRuntimeException($"its app exited during start; the end of {app.LogFile}:\n{ProcessLauncher.Tail(app.LogFile)}");
            }

            for (var i = pending.Count - 1; i >= 0; i--)
            {
                var endpoint = new IPEndPoint(IPAddress.Loopback, pending[i]);
                var open = netns is null
                    ? await CanConnectAsync(endpoint, cancel).ConfigureAwait(false)
                    : await NetnsSocket.CanConnectAsync(netns, endpoint, TimeSpan.FromSeconds(1), cancel).ConfigureAwait(false);
                if (open)
                {
                    pending.RemoveAt(i);
                }
                else
                {
                    last = $"nothing listens on port {pending[i]}";
                }
            }

            if (pending.Count == 0 && healthUrl is { } url)
            {
                try
                {
                    using var response = await health.GetAsync(url, cancel).ConfigureAwait(false);
                    var code = (int)response.StatusCode;
                    if (code is >= 200 and < 400)
                    {
                        healthUrl = null;
                    }
                    else
                    {
                        last = $"{url.PathAndQuery} answered {code}";
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or IOException || (ex is TaskCanceledException && !cancel.IsCancellationRequested))
                {
                    last = $"{url.PathAndQuery}: {ex.Message}";
                }
            }

            if (pending.Count == 0 && healthUrl is null)
            {
                return;
            }

            if (clock.Elapsed > request.ReadyTimeout)
            {
                var hint = ports.AppPorts is { Count: > 0 } ? "; in loopback mode an app must listen on $PORT or the port given after --port" : "";
                throw new LocalRuntimeException($"its app was not ready within {request.ReadyTimeout.TotalSeconds:0} s ({last}{hint}); the end of {app.LogFile}:\n{ProcessLauncher.Tail(app.LogFile)}");
            }

            await Task.Delay(100, cancel).ConfigureAwait(false);
        }
    }

    private static async Task<bool> CanConnectAsync(IPEndPoint endpoint, CancellationToken cancel)
    {
        using var socket = new System.Net.Sockets.Socket(endpoint.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endpoint, cancel).ConfigureAwait(false);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

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

    private Dictionary<string, string> ProxyEnvironment(PodSpec spec)
    {
        var env = BaseEnvironment();
        // The sidecar runs as uid 1337, which cannot write root's home.
        env["HOME"] = "/tmp";
        env["INSTANCE"] = spec.Name;
        env["POD_NAME"] = spec.Name;
        env["POD_NAMESPACE"] = spec.Namespace;
        return env;
    }

    private Dictionary<string, string> AppEnvironment(PodSpec spec, string address, ProxyPorts ports)
    {
        var env = BaseEnvironment();
        env["INSTANCE"] = spec.Name;
        env["POD_NAME"] = spec.Name;
        env["POD_NAMESPACE"] = spec.Namespace;
        env["POD_IP"] = address;
        env["SERVICE_ACCOUNT"] = spec.ServiceAccount;
        if (ports.AppPorts is { Count: > 0 } moved)
        {
            env["PORT"] = moved.Values.First().ToString(CultureInfo.InvariantCulture);
        }

        if (!Netns)
        {
            var proxy = $"http://127.0.0.1:{ports.Outbound}";
            env["HTTP_PROXY"] = proxy;
            env["http_proxy"] = proxy;
            env["NO_PROXY"] = "localhost,127.0.0.1";
            env["no_proxy"] = "localhost,127.0.0.1";
        }

        foreach (var (key, value) in spec.Env)
        {
            env[key] = value;
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
