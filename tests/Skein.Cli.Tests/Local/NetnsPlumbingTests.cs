using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Skein.Cli.Local;
using Xunit.Abstractions;

namespace Skein.Cli.Tests.Local;

/// <summary>
/// The netns runtime's kernel plumbing on the real host, without skein-control or skein-proxy:
/// a bridge and two pods, listeners standing in for the sidecar on 15001/15006 (sockets made
/// inside the pods' namespaces), and `skein down` afterwards leaving nothing behind.
/// Every test tears down in Dispose, also when it fails.
/// </summary>
[Collection(NetnsCollection.Name)]
public sealed class NetnsPlumbingTests(ITestOutputHelper output) : IDisposable
{
    private readonly Stopwatch clock = Stopwatch.StartNew();

    private const string Vip = "198.19.0.2";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private readonly string runDir = Path.Combine(Path.GetTempPath(), $"skein-netns-test-{Guid.NewGuid():N}");
    private readonly List<Socket> sockets = [];

    public void Dispose()
    {
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }

        if (Directory.Exists(runDir))
        {
            Teardown.DownAsync(runDir, TimeSpan.FromSeconds(2)).GetAwaiter().GetResult();
            Directory.Delete(runDir, recursive: true);
        }
    }

    [NetnsFact]
    public async Task CreatePod_TwoPods_CapturesOutboundAndInboundAndResolvesVips()
    {
        var (store, a, b) = CreateTwoPods();
        var outboundA = Listen(a.Netns!, 15001);
        var inboundB = Listen(b.Netns!, 15006);
        var healthB = Listen(b.Netns!, 15021);

        Step("pods created");
        // The app in pod A calls a service VIP: the connection lands on A's outbound port, and the original destination is the VIP.
        using (var app = NetnsSocket.CreateTcp(a.Netns!))
        {
            await app.ConnectAsync(IPEndPoint.Parse($"{Vip}:9080")).WaitAsync(Timeout);
            using var captured = await outboundA.AcceptAsync().WaitAsync(Timeout);
            Assert.Equal(IPEndPoint.Parse($"{Vip}:9080"), OriginalDestination(captured));
        }

        Step("vip captured");
        // The app in pod A calls pod B directly: captured by A's sidecar port too.
        using (var app = NetnsSocket.CreateTcp(a.Netns!))
        {
            await app.ConnectAsync(IPEndPoint.Parse($"{b.Address}:9080")).WaitAsync(Timeout);
            using var captured = await outboundA.AcceptAsync().WaitAsync(Timeout);
            Assert.Equal(IPEndPoint.Parse($"{b.Address}:9080"), OriginalDestination(captured));
        }

        Step("pod-to-pod captured");
        // Traffic arriving at pod B on its app port goes to B's inbound port.
        using (var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await peer.ConnectAsync(IPEndPoint.Parse($"{b.Address}:9080")).WaitAsync(Timeout);
            using var captured = await inboundB.AcceptAsync().WaitAsync(Timeout);
            Assert.Equal(IPEndPoint.Parse($"{b.Address}:9080"), OriginalDestination(captured));
        }

        // ...but the sidecar's own ports (15000-15099) are reached directly.
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await probe.ConnectAsync(IPEndPoint.Parse($"{b.Address}:15021")).WaitAsync(Timeout);
            using var direct = await healthB.AcceptAsync().WaitAsync(Timeout);
            Assert.Equal(15021, ((IPEndPoint)direct.LocalEndPoint!).Port);
        }

        Step("inbound captured");
        // A process running as the sidecar's uid in pod A is not captured by A: it reaches B, where inbound capture applies.
        var asProxy = Launch(store, a, "bash", ["-c", $"exec 3<>/dev/tcp/{b.Address}/9080; echo from-proxy >&3; sleep 5"], LocalNames.ProxyUid);
        using (var fromProxy = await inboundB.AcceptAsync().WaitAsync(Timeout))
        {
            Assert.Equal(IPAddress.Parse(a.Address!), ((IPEndPoint)fromProxy.RemoteEndPoint!).Address);
            Assert.Equal(IPEndPoint.Parse($"{b.Address}:9080"), OriginalDestination(fromProxy));
        }

        Step("sidecar uid not captured");
        // The same command as the app's uid is captured by A's outbound port.
        var asApp = Launch(store, a, "bash", ["-c", $"exec 3<>/dev/tcp/{b.Address}/9080; echo from-app >&3; sleep 5"], uid: null);
        using (var fromApp = await outboundA.AcceptAsync().WaitAsync(Timeout))
        {
            Assert.Equal(IPEndPoint.Parse($"{b.Address}:9080"), OriginalDestination(fromApp));
        }

        Step("app uid captured");
        // Names resolve to VIPs through /etc/netns/<pod>/hosts.
        Assert.StartsWith(Vip, Shell.Check("ip", ["netns", "exec", a.Netns!, "getent", "ahosts", "catalog.default.svc.cluster.local"]), StringComparison.Ordinal);
        Assert.StartsWith(Vip, Shell.Check("ip", ["netns", "exec", a.Netns!, "getent", "ahosts", "catalog"]), StringComparison.Ordinal);

        // Names the hosts file lacks fail at once rather than waiting on a resolver the pod cannot reach.
        var lookup = Stopwatch.StartNew();
        Assert.False(Shell.Run("ip", ["netns", "exec", a.Netns!, "getent", "hosts", "nothing.example"]).Ok);
        Assert.True(lookup.Elapsed < TimeSpan.FromSeconds(3), $"failed lookup took {lookup.Elapsed}");

        Step("hosts resolved");
        Assert.True(ProcessLauncher.IsAlive(asProxy));
        Assert.True(ProcessLauncher.IsAlive(asApp));
        await AssertDownLeavesNothingAsync([asProxy, asApp]);
    }

    [NetnsFact]
    public async Task Down_StateFileCorrupt_SweepRemovesEverything()
    {
        var (store, a, _) = CreateTwoPods();
        var sleeper = Launch(store, a, "sleep", ["60"], uid: null);
        File.WriteAllText(StateStore.PathIn(runDir), "{ not json");

        await AssertDownLeavesNothingAsync([sleeper]);
    }

    [NetnsFact]
    public async Task Down_Twice_SecondFindsNothing()
    {
        CreateTwoPods();

        await AssertDownLeavesNothingAsync([]);
        var second = await Teardown.DownAsync(runDir, TimeSpan.FromSeconds(1));

        Assert.Empty(second.Problems);
        Assert.Empty(second.Removed);
        Assert.Equal(0, second.Processes);
    }

    [NetnsFact]
    public void Cli_DownWithoutState_ExitsZero()
    {
        var (code, stdout, stderr) = CliRunner.Run("down", "--run-dir", runDir);

        Assert.True(code == 0, stderr);
        Assert.Contains("nothing to remove", stdout, StringComparison.Ordinal);
    }

    private void Step(string what) => output.WriteLine($"{clock.Elapsed.TotalSeconds,6:0.00}s {what}");

    private (StateStore Store, PodRecord A, PodRecord B) CreateTwoPods()
    {
        var store = new StateStore(runDir, new RunState { Mode = RuntimeModes.Netns, StartedAt = DateTimeOffset.Now });
        var network = HostNetwork.Create();
        network.CreateBridge(store);
        var services = new[] { new ServiceVip("catalog.default.svc.cluster.local", Vip) };
        var pods = new List<PodRecord>();
        foreach (var name in new[] { "plumb-a-0", "plumb-b-0" })
        {
            var pod = new PodRecord { Name = name, Workload = name[..^2], Namespace = "default" };
            store.Update(s =>
            {
                pod.Address = AddressAllocator.Next(s.Addresses).ToString();
                s.Pods.Add(pod);
            });
            network.CreatePod(store, pod, HostsFile.Render(LocalNames.NetnsName(name), "default", pod.Address, services), ProxyPorts.Default);
            pods.Add(pod);
        }

        Assert.Equal("198.18.1.1", pods[0].Address);
        Assert.Equal("198.18.1.2", pods[1].Address);
        return (store, pods[0], pods[1]);
    }

    private Socket Listen(string netns, int port)
    {
        var socket = NetnsSocket.CreateTcp(netns);
        sockets.Add(socket);
        socket.Bind(new IPEndPoint(IPAddress.Any, port));
        socket.Listen(16);
        return socket;
    }

    private ProcessRecord Launch(StateStore store, PodRecord pod, string program, IReadOnlyList<string> args, int? uid)
    {
        var (process, record) = ProcessLauncher.Start(new LaunchSpec
        {
            Role = uid is null ? "app" : "proxy",
            Command = [program, .. args],
            Environment = new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin", [LocalNames.RunDirEnvironment] = runDir },
            LogFile = Path.Combine(runDir, "logs", $"{pod.Name}-{(uid is null ? "app" : "proxy")}.log"),
            Netns = pod.Netns,
            Uid = uid,
        });
        process.Dispose();
        store.Update(_ =>
        {
            if (uid is null)
            {
                pod.App = record;
            }
            else
            {
                pod.Proxy = record;
            }
        });
        return record;
    }

    private async Task AssertDownLeavesNothingAsync(IReadOnlyList<ProcessRecord> processes)
    {
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }

        sockets.Clear();
        var clock = Stopwatch.StartNew();
        var result = await Teardown.DownAsync(runDir, TimeSpan.FromSeconds(2));

        Assert.Empty(result.Problems);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"down took {clock.Elapsed}");
        var network = HostNetwork.Create();
        Assert.DoesNotContain(network.NetnsList(), LocalNames.IsSkeinNetns);
        Assert.DoesNotContain(network.Links(), l => l == LocalNames.Bridge || l.StartsWith(LocalNames.VethPrefix, StringComparison.Ordinal));
        foreach (var table in new[] { "filter", "nat" })
        {
            Assert.DoesNotContain("--comment skein", Shell.Check("iptables", ["-w", "-t", table, "-S"]), StringComparison.Ordinal);
        }

        Assert.False(Directory.Exists("/etc/netns") && Directory.EnumerateDirectories("/etc/netns", "skein-*").Any());
        Assert.All(processes, p => Assert.False(ProcessLauncher.IsAlive(p), $"{p.Role} {p.Pid} still runs"));
        Assert.Empty(ProcessLauncher.FindTagged(runDir));
        Assert.False(File.Exists(StateStore.PathIn(runDir)));
    }

    /// <summary>getsockopt(SOL_IP, SO_ORIGINAL_DST): where the connection was going before REDIRECT.</summary>
    private static IPEndPoint OriginalDestination(Socket socket)
    {
        var buffer = new byte[16];
        var length = socket.GetRawSocketOption(0, 80, buffer);
        Assert.Equal(16, length);
        var port = BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(2));
        return new IPEndPoint(new IPAddress(buffer.AsSpan(4, 4)), port);
    }
}
