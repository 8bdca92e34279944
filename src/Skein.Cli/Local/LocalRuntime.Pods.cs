using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;

namespace Skein.Cli.Local;

/// <summary>
/// One pod of `skein up`: its sidecar (bootstrap, identity, flags, readiness), its registration with the
/// control plane, and its app (environment, readiness).
/// </summary>
internal sealed partial class LocalRuntime
{
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
}
