using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Skein.Api.Loading;
using Skein.Cli.Local;

namespace Skein.Cli.Tests.Local;

/// <summary>
/// `skein up` and `skein down` on the real netns runtime, with stand-ins for the mesh binaries:
/// an in-process fake of skein-control's HTTP API, a perl one-liner as the sidecar (it answers
/// /healthz/ready on 15021, as uid 1337) and another as the app. This checks the orchestration
/// (order, state, registration, hosts files, logs, cleanup) without depending on skein-control
/// or skein-proxy; the full-mesh end-to-end test runs the real ones.
/// </summary>
[Collection(NetnsCollection.Name)]
public sealed class LocalRuntimeTests : IDisposable
{
    private const string FakeProxyScript = """
        #!/bin/sh
        # A stand-in for skein-proxy: reports who it runs as, then answers every request with 200.
        echo "fake-proxy uid=$(id -u) gid=$(id -g) args=$*"
        port=15021
        while [ $# -gt 0 ]; do [ "$1" = --health-port ] && port=$2; shift; done
        exec perl -MIO::Socket::INET -e '
          my $s = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => $ARGV[0], Listen => 16, ReuseAddr => 1) or die "listen: $!";
          while (my $c = $s->accept) { <$c>; print $c "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nLIVE\n"; close $c }' "$port"
        """;

    private const string FakeAppServer = """
        my $s = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => ($ENV{PORT} || 9080), Listen => 16, ReuseAddr => 1) or die "listen: $!";
        print "app listening\n";
        while (my $c = $s->accept) { print $c "instance=$ENV{INSTANCE} pod_ip=$ENV{POD_IP} greeting=$ENV{GREETING} proxy=$ENV{HTTP_PROXY}\n"; close $c }
        """;

    private readonly string root = Path.Combine(Path.GetTempPath(), $"skein-up-test-{Guid.NewGuid():N}");
    private readonly string runDir;
    private readonly FakeControlPlane control = new();

    public LocalRuntimeTests()
    {
        runDir = Path.Combine(root, "run");
        Directory.CreateDirectory(root);
    }

    public void Dispose()
    {
        try
        {
            if (File.Exists(StateStore.PathIn(runDir)) || HostNetwork.Unavailable() is null)
            {
                Teardown.DownAsync(runDir, TimeSpan.FromSeconds(2)).GetAwaiter().GetResult();
            }
        }
        finally
        {
            control.Dispose();
            Directory.Delete(root, recursive: true);
        }
    }

    [NetnsFact]
    public async Task UpAsync_FakeMesh_StartsPodsInOrderAndDownRemovesAll()
    {
        var request = Request(Script("fake-proxy", FakeProxyScript));

        var result = await LocalRuntime.UpAsync(request, new PlainProgress(TextWriter.Null), CancellationToken.None);

        Assert.True(result.Ok, string.Join("\n", result.Errors));
        Assert.Equal(["client-0", "web-0", "web-1"], result.State.Pods.Select(p => p.Name));
        Assert.All(result.State.Pods, p => Assert.Equal(PodStates.Running, p.State));
        Assert.Equal(["198.18.1.1", "198.18.1.2", "198.18.1.3"], result.State.Pods.Select(p => p.Address));

        // The config went to the control plane, and each pod with ports registered twice: before its app started (not healthy), then healthy.
        Assert.Contains("kind: Workload", control.AppliedConfig, StringComparison.Ordinal);
        var web0 = control.Registrations.Where(r => r.GetProperty("id").GetString() == "web-0").ToList();
        Assert.Equal([false, true], web0.Select(r => r.GetProperty("healthy").GetBoolean()));
        Assert.Equal("198.18.1.2", web0[0].GetProperty("address").GetString());
        Assert.Equal("web", web0[0].GetProperty("labels").GetProperty("app").GetString());
        Assert.Equal(9080, web0[0].GetProperty("ports")[0].GetProperty("port").GetInt32());

        // The sidecar ran as 1337 in the pod and got its identity; the app got its environment and is reachable inside the pod.
        var web1 = result.State.Pods.Single(p => p.Name == "web-1");
        var proxyLog = await File.ReadAllTextAsync(web1.Proxy!.LogFile);
        Assert.Contains("fake-proxy uid=1337 gid=1337", proxyLog, StringComparison.Ordinal);
        Assert.Contains("--mode transparent", proxyLog, StringComparison.Ordinal);
        Assert.Contains("--node-id sidecar~198.18.1.3~web-1.default~default.svc.cluster.local", proxyLog, StringComparison.Ordinal);
        var bootstrap = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(runDir, "pods", "web-1", "bootstrap.json")));
        Assert.Equal("web-1", bootstrap.RootElement.GetProperty("node").GetProperty("metadata").GetProperty("INSTANCE_ID").GetString());
        Assert.Equal("instance=web-1 pod_ip=198.18.1.3 greeting=hi proxy=\n", await ReadFromPodAsync(web1.Netns!, 9080));

        // Service names resolve to the registry's VIPs inside pods, through `skein exec`.
        var (code, stdout, stderr) = CliRunner.Run("exec", "--run-dir", runDir, "client", "--", "getent", "ahostsv4", "web.default.svc.cluster.local");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("198.19.0.7", stdout, StringComparison.Ordinal);

        // A Service added later (skein apply) resolves once the hosts files are refreshed.
        control.Registry = """{"services": [{"host": "web.default.svc.cluster.local", "vip": "198.19.0.7"}, {"host": "late.default.svc.cluster.local", "vip": "198.19.0.8"}]}""";
        Assert.Equal(3, await LocalRuntime.RefreshHostsAsync(runDir, CancellationToken.None));
        Assert.StartsWith("198.19.0.8", Shell.Check("ip", ["netns", "exec", web1.Netns!, "getent", "ahostsv4", "late"]), StringComparison.Ordinal);

        var status = CliRunner.Run("status", "--run-dir", runDir);
        Assert.Contains("web-1", status.Stdout, StringComparison.Ordinal);
        Assert.Contains("running", status.Stdout, StringComparison.Ordinal);

        var processes = result.State.Pods.SelectMany(p => new[] { p.App!, p.Proxy! }).Append(result.State.Control!).ToList();
        Assert.All(processes, p => Assert.True(ProcessLauncher.IsAlive(p), $"{p.Role} {p.Pid} is not running"));

        var down = CliRunner.Run("down", "--run-dir", runDir);

        Assert.True(down.ExitCode == 0, down.Stderr);
        Assert.Contains("mesh is down (7 process(es) stopped)", down.Stdout, StringComparison.Ordinal);
        Assert.All(processes, p => Assert.False(ProcessLauncher.IsAlive(p), $"{p.Role} {p.Pid} still runs"));
        AssertNothingLeft();
    }

    [NetnsFact]
    public async Task UpAsync_SidecarExits_PodFailsWithLogTailAndDownCleansUp()
    {
        var request = Request(Script("broken-proxy", "#!/bin/sh\necho 'skein-proxy: cannot reach the control plane' >&2\nexit 3\n"));

        var result = await LocalRuntime.UpAsync(request, new PlainProgress(TextWriter.Null), CancellationToken.None);

        Assert.False(result.Ok);
        Assert.All(result.State.Pods, p => Assert.Equal(PodStates.Failed, p.State));
        Assert.Contains(result.Errors, e => e.Contains("sidecar exited", StringComparison.Ordinal) && e.Contains("cannot reach the control plane", StringComparison.Ordinal));
        Assert.All(result.State.Pods, p => Assert.Null(p.App));
        Assert.DoesNotContain(control.Registrations, r => r.GetProperty("healthy").GetBoolean());

        var down = await Teardown.DownAsync(runDir, TimeSpan.FromSeconds(2));

        Assert.Empty(down.Problems);
        AssertNothingLeft();
    }

    [NetnsFact]
    public async Task UpAsync_StateAlreadyThere_RefusesBeforeCreatingAnything()
    {
        Directory.CreateDirectory(runDir);
        await File.WriteAllTextAsync(StateStore.PathIn(runDir), "{}");

        var error = await Assert.ThrowsAsync<LocalRuntimeException>(() =>
            LocalRuntime.UpAsync(Request(Script("fake-proxy", FakeProxyScript)), new PlainProgress(TextWriter.Null), CancellationToken.None));

        Assert.Contains("skein down", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(HostNetwork.Create().Links(), l => l == LocalNames.Bridge);
    }

    [Fact]
    public async Task UpAsync_Loopback_PodsOnDistinctLoopbackPortsWithHttpProxy()
    {
        var request = Request(Script("fake-proxy", FakeProxyScript)) with { Loopback = true };

        var result = await LocalRuntime.UpAsync(request, new PlainProgress(TextWriter.Null), CancellationToken.None);

        Assert.True(result.Ok, string.Join("\n", result.Errors));
        Assert.Equal(RuntimeModes.Loopback, result.State.Mode);
        Assert.All(result.State.Pods, p => Assert.Equal("127.0.0.1", p.Address));
        Assert.All(result.State.Pods, p => Assert.Null(p.Netns));
        var ports = result.State.Pods.Select(p => p.Ports!).ToList();
        Assert.Equal(ports.Count * 5, ports.SelectMany(p => new[] { p.Outbound, p.Inbound, p.Admin, p.Stats, p.Health }).Distinct().Count());

        var web1 = result.State.Pods.Single(p => p.Name == "web-1");
        var appPort = web1.Ports!.AppPorts![9080];
        Assert.Equal($"instance=web-1 pod_ip=127.0.0.1 greeting=hi proxy=http://127.0.0.1:{web1.Ports.Outbound}\n", await ReadAsync(new IPEndPoint(IPAddress.Loopback, appPort)));
        var proxyLog = await File.ReadAllTextAsync(web1.Proxy!.LogFile);
        Assert.Contains("--mode explicit", proxyLog, StringComparison.Ordinal);
        Assert.Contains($"fake-proxy uid={Shell.Check("id", ["-u"]).Trim()}", proxyLog, StringComparison.Ordinal);
        Assert.Contains($"--app-port {appPort}", proxyLog, StringComparison.Ordinal);
        // The sidecar gets its identity from the CA with a token only its own user can read.
        var tokenFile = Path.Combine(runDir, "pods", "web-1", "identity", "token");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenFile));
        Assert.Contains("--ca-address https://127.0.0.1:", proxyLog, StringComparison.Ordinal);
        Assert.Contains("--token-file ", proxyLog, StringComparison.Ordinal);
        Assert.DoesNotContain("fake-token-for-test", proxyLog, StringComparison.Ordinal);
        var registration = control.Registrations.Last(r => r.GetProperty("id").GetString() == "web-1");
        Assert.Equal($"127.0.0.1:{web1.Ports.Inbound}", registration.GetProperty("sidecarInboundAddress").GetString());
        Assert.Equal(9080, registration.GetProperty("ports")[0].GetProperty("port").GetInt32());

        var processes = result.State.Pods.SelectMany(p => new[] { p.App!, p.Proxy! }).Append(result.State.Control!).ToList();
        var down = await Teardown.DownAsync(runDir, TimeSpan.FromSeconds(2));

        Assert.Empty(down.Problems);
        Assert.Equal(7, down.Processes);
        Assert.All(processes, p => Assert.False(ProcessLauncher.IsAlive(p), $"{p.Role} {p.Pid} still runs"));
        Assert.False(File.Exists(StateStore.PathIn(runDir)));
    }

    private UpRequest Request(string proxy)
    {
        var config = Path.Combine(root, "mesh.yaml");
        File.WriteAllText(config, $"""
            apiVersion: skein.dev/v1alpha1
            kind: Workload
            metadata: {"{"}name: web{"}"}
            spec:
              command: [perl, -MIO::Socket::INET, -e, {JsonSerializer.Serialize(FakeAppServer)}]
              env: [{"{"}name: GREETING, value: hi{"}"}]
              ports: [{"{"}name: http, port: 9080, protocol: HTTP{"}"}]
              replicas: 2
            ---
            apiVersion: skein.dev/v1alpha1
            kind: Workload
            metadata: {"{"}name: client{"}"}
            spec:
              command: [sleep, "600"]
            ---
            apiVersion: v1
            kind: Service
            metadata: {"{"}name: web{"}"}
            spec:
              selector: {"{"}app: web{"}"}
              ports: [{"{"}name: http, port: 9080{"}"}]
            """);
        var loaded = ConfigLoader.LoadPaths([config]);
        Assert.False(loaded.HasErrors, string.Join("\n", loaded.Diagnostics));
        return new UpRequest
        {
            Resources = loaded.Resources,
            ConfigFiles = [config],
            RunDir = runDir,
            ReadyTimeout = TimeSpan.FromSeconds(20),
            ControlHttpPort = control.Port,
            Binaries = new MeshBinaries([Script("fake-control", "#!/bin/sh\necho \"fake-control $*\"\nexec sleep 600\n")], [proxy], []),
        };
    }

    private string Script(string name, string text)
    {
        var path = Path.Combine(root, name);
        File.WriteAllText(path, text.ReplaceLineEndings("\n"));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        return path;
    }

    private static Task<string> ReadFromPodAsync(string netns, int port) =>
        ReadAsync(NetnsSocket.CreateTcp(netns), new IPEndPoint(IPAddress.Loopback, port));

    private static Task<string> ReadAsync(IPEndPoint endpoint) =>
        ReadAsync(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp), endpoint);

    private static async Task<string> ReadAsync(Socket owned, IPEndPoint endpoint)
    {
        using var socket = owned;
        await socket.ConnectAsync(endpoint).WaitAsync(TimeSpan.FromSeconds(5));
        using var stream = new NetworkStream(socket, ownsSocket: false);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(5));
    }

    private void AssertNothingLeft()
    {
        var network = HostNetwork.Create();
        Assert.DoesNotContain(network.NetnsList(), LocalNames.IsSkeinNetns);
        Assert.DoesNotContain(network.Links(), l => l == LocalNames.Bridge || l.StartsWith(LocalNames.VethPrefix, StringComparison.Ordinal));
        foreach (var table in new[] { "filter", "nat" })
        {
            Assert.DoesNotContain("--comment skein", Shell.Check("iptables", ["-w", "-t", table, "-S"]), StringComparison.Ordinal);
        }

        Assert.Empty(ProcessLauncher.FindTagged(runDir));
        Assert.False(File.Exists(StateStore.PathIn(runDir)));
    }

    /// <summary>skein-control's HTTP API as `skein up` uses it, answering from memory.</summary>
    private sealed class FakeControlPlane : IDisposable
    {
        private readonly HttpListener listener = new();
        private readonly Task loop;
        private readonly List<JsonElement> registrations = [];

        public FakeControlPlane()
        {
            Port = FreePort();
            listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            listener.Start();
            loop = Task.Run(ServeAsync);
        }

        public int Port { get; }

        public string AppliedConfig { get; private set; } = "";

        public string Registry { get; set; } = """{"services": [{"host": "web.default.svc.cluster.local", "vip": "198.19.0.7", "ports": [{"port": 9080}]}]}""";

        public IReadOnlyList<JsonElement> Registrations
        {
            get
            {
                lock (registrations)
                {
                    return [.. registrations];
                }
            }
        }

        public void Dispose()
        {
            listener.Stop();
            listener.Close();
            try
            {
                loop.Wait(TimeSpan.FromSeconds(2));
            }
            catch (AggregateException)
            {
                // Stopped while waiting for a request.
            }
        }

        private async Task ServeAsync()
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                using var reader = new StreamReader(context.Request.InputStream);
                var body = await reader.ReadToEndAsync();
                var path = context.Request.Url!.AbsolutePath;
                var (status, answer) = (context.Request.HttpMethod, path) switch
                {
                    ("GET", "/api/v1/config") => (200, "{}"),
                    ("POST", "/api/v1/config") => Apply(body),
                    ("GET", "/api/v1/registry") => (200, Registry),
                    ("POST", "/api/v1/registry/instances") => Register(body),
                    ("POST", "/api/v1/ca/tokens") => (200, FakeToken),
                    _ => (404, "{}"),
                };
                context.Response.StatusCode = status;
                var bytes = Encoding.UTF8.GetBytes(answer);
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
        }

        /// <summary>What skein-control's token endpoint answers: the pod's bootstrap token and the CA's root.</summary>
        private const string FakeToken = """{"token": "fake-token-for-test", "rootCertPem": "-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n"}""";

        private (int, string) Apply(string body)
        {
            AppliedConfig = body;
            return (200, "{}");
        }

        private (int, string) Register(string body)
        {
            lock (registrations)
            {
                registrations.Add(JsonDocument.Parse(body).RootElement.Clone());
            }

            return (200, "{}");
        }

        private static int FreePort()
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return ((IPEndPoint)socket.LocalEndPoint!).Port;
        }
    }
}
