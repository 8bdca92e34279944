using System.Diagnostics;
using System.Globalization;
using Skein.Proxy.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Skein.Proxy.Tests;

/// <summary>
/// Transparent capture exactly as a pod has it: a network namespace (<c>skt-*</c>, addresses in 198.18.0.0/15 only),
/// iptables REDIRECT of outbound TCP to 15001 excluding the proxy's uid, and the proxy reading <c>SO_ORIGINAL_DST</c>
/// (IPv4 and IPv6). Everything is torn down in <see cref="DisposeAsync"/>, also when a test fails.
/// </summary>
public sealed class TransparentCaptureTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int ProxyUid = 1337;
    private readonly string _ns = "skt-" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<Process> _processes = [];
    private string? _dir;

    [RootNetnsFact]
    public async Task OriginalDst_RedirectedConnections_RoutedByListenerOrPassedThrough()
    {
        _dir = Path.Combine(Path.GetTempPath(), _ns);
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, "whoami.txt"), "backend-in-netns");
        await File.WriteAllTextAsync(Path.Combine(_dir, "bootstrap.json"), Bootstrap());
        File.SetUnixFileMode(_dir, (UnixFileMode)0b111_101_101);

        await Sh($"ip netns add {_ns}");
        await Ns("ip link set lo up");
        await Ns("ip link add skv0 type veth peer name skv1");
        await Ns("ip addr add 198.18.0.1/24 dev skv0");
        await Ns("ip addr add 198.18.0.2/24 dev skv1");
        await Ns("ip link set skv0 up");
        await Ns("ip link set skv1 up");
        // Everything the workload (any uid but the proxy's) sends to TCP port 9080 or 8081 goes to the proxy.
        foreach (var port in new[] { 9080, 8081 })
        {
            await Ns($"iptables -t nat -A OUTPUT -p tcp --dport {port} -m owner ! --uid-owner {ProxyUid} -j REDIRECT --to-ports 15001");
        }

        var ipv6 = await TryNs($"ip6tables -t nat -A OUTPUT -p tcp -d ::1 --dport 9080 -m owner ! --uid-owner {ProxyUid} -j REDIRECT --to-ports 15001");

        Spawn($"ip netns exec {_ns} /usr/bin/python3 -m http.server 8080 --bind 198.18.0.2 --directory {_dir}");
        Spawn($"ip netns exec {_ns} /usr/bin/python3 -m http.server 8081 --bind 198.18.0.2 --directory {_dir}");
        var proxy = Spawn(
            $"ip netns exec {_ns} setpriv --reuid={ProxyUid} --regid={ProxyUid} --clear-groups env HOME={_dir} DOTNET_CLI_HOME={_dir} " +
            $"/usr/bin/dotnet {Path.Combine(AppContext.BaseDirectory, "skein-proxy.dll")} --bootstrap {_dir}/bootstrap.json --mode transparent --access-log",
            waitFor: "skein-proxy ready in");
        await WaitForPortAsync(8080);

        // 9080 has a listener: routed to the cluster (backend on 8080) by the original destination's port.
        var routed = await Curl("http://198.18.0.2:9080/whoami.txt");
        // 8081 has no listener: passthrough (ALLOW_ANY) to the original destination, which the proxy's uid reaches directly.
        var passthrough = await Curl("http://198.18.0.2:8081/whoami.txt");

        Assert.Equal("200 backend-in-netns", routed);
        Assert.Equal("200 backend-in-netns", passthrough);
        var log = ProcessOutput(proxy);
        Assert.Contains("\"upstream_cluster\":\"outbound|9080||backend\"", log, StringComparison.Ordinal);
        Assert.Contains("\"downstream_local_address\":\"198.18.0.2:9080\"", log, StringComparison.Ordinal);
        Assert.Contains("\"upstream_cluster\":\"PassthroughCluster\"", log, StringComparison.Ordinal);
        output.WriteLine($"IPv6 redirect installed: {ipv6}");
        if (ipv6)
        {
            Assert.Equal("200 backend-in-netns", await Curl("http://[::1]:9080/whoami.txt"));
            Assert.Contains("\"downstream_local_address\":\"[::1]:9080\"", ProcessOutput(proxy), StringComparison.Ordinal);
        }
        else
        {
            output.WriteLine("ip6tables nat unavailable: IPv6 original destination not exercised");
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var p in _processes)
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill(entireProcessTree: true);
                    p.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            p.Dispose();
        }

        await TryNs("iptables -t nat -F OUTPUT");
        await TryNs("ip6tables -t nat -F OUTPUT");
        await Run("ip", $"netns delete {_ns}", check: false);
        if (_dir is not null && Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static string Bootstrap() =>
        Bootstraps.Backend(8080).Replace("\"address\": \"127.0.0.1\", \"port_value\": 8080", "\"address\": \"198.18.0.2\", \"port_value\": 8080", StringComparison.Ordinal);

    private async Task<string> Curl(string url)
    {
        var (code, stdout) = await Run("ip", $"netns exec {_ns} curl -s -g --max-time 5 -w \" %{{http_code}}\" {url}", check: false);
        var parts = stdout.Trim().Split(' ');
        return code == 0 ? $"{parts[^1]} {string.Join(' ', parts[..^1])}" : $"curl exit {code}: {stdout}";
    }

    private async Task WaitForPortAsync(int port)
    {
        for (var i = 0; i < 50; i++)
        {
            var (code, _) = await Run("ip", $"netns exec {_ns} curl -s -o /dev/null --max-time 1 http://198.18.0.2:{port}/", check: false);
            if (code == 0)
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"port {port} never opened in {_ns}");
    }

    private Process Spawn(string command, string? waitFor = null)
    {
        var parts = command.Split(' ', 2);
        var psi = new ProcessStartInfo(parts[0], parts[1]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        var p = Process.Start(psi)!;
        _processes.Add(p);
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var ready = new TaskCompletionSource();
        p.OutputDataReceived += (_, e) => OnLine(e.Data);
        p.ErrorDataReceived += (_, e) => OnLine(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        Outputs[p] = lines;
        if (waitFor is not null && !ready.Task.Wait(TimeSpan.FromSeconds(30)))
        {
            Assert.Fail($"{parts[0]} not ready: {string.Join('\n', lines)}");
        }

        return p;

        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lines.Enqueue(line);
            if (waitFor is not null && line.Contains(waitFor, StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        }
    }

    private readonly Dictionary<Process, System.Collections.Concurrent.ConcurrentQueue<string>> Outputs = [];

    private string ProcessOutput(Process p)
    {
        Thread.Sleep(200); // access log lines are written just after the response
        return string.Join('\n', Outputs[p]);
    }

    private static Task<(int Code, string Output)> Sh(string command) => Run(command.Split(' ', 2)[0], command.Split(' ', 2)[1], check: true);

    private Task<(int Code, string Output)> Ns(string command) => Run("ip", $"netns exec {_ns} {command}", check: true);

    private async Task<bool> TryNs(string command) => (await Run("ip", $"netns exec {_ns} {command}", check: false)).Code == 0;

    private static async Task<(int Code, string Output)> Run(string file, string args, bool check)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        if (check && p.ExitCode != 0)
        {
            Assert.Fail($"{file} {args} failed ({p.ExitCode.ToString(CultureInfo.InvariantCulture)}): {await stderr}");
        }

        return (p.ExitCode, await stdout + await stderr);
    }
}
