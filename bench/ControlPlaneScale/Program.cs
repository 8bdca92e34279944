// Scale benchmark of skein-control (issue 4): one real skein-control process serving a generated mesh of N services
// (2 instances each) to 2N fake ADS proxies over real gRPC. Measures the initial sync, the time from a config change
// through the HTTP API to the last proxy's ACK, memory and CPU, within a time budget. bench/control-plane.sh builds
// and runs it and puts the figures into bench/RESULTS.md.
//
// usage: ControlPlaneScale --control PATH/skein-control [--services 1000] [--namespaces 10] [--changes 20]
//          [--connections 0 (0: one HTTP/2 connection per proxy)] [--work DIR] [--section FILE] [--json FILE]
//          [--command TEXT] [--clk-tck 100] [--deadline SECONDS]
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Grpc.Net.Client;
using Skein.Bench.ControlPlaneScale;
using Skein.Xds.Envoy.Config.Route.V3;

var options = Options.Parse(args);
var clock = Stopwatch.StartNew();
void Log(string message) => Console.Error.WriteLine($"[{clock.Elapsed.TotalSeconds,6:F1}s] {message}");

// Everything must be over by the deadline; the last Reserve seconds are kept for the final figures and teardown.
var reserve = TimeSpan.FromSeconds(20);
var deadline = TimeSpan.FromSeconds(options.DeadlineSeconds);
TimeSpan Left() => deadline - reserve - clock.Elapsed;
using var hardStop = new CancellationTokenSource(deadline);
var cancel = hardStop.Token;

var mesh = new MeshModel(options.Services, options.Namespaces);
var proxyCount = mesh.Instances.Count;
var report = new Report(options, mesh) { LoadBefore = File.ReadAllText("/proc/loadavg").Trim() };

if (Directory.Exists(options.Work))
{
    Directory.Delete(options.Work, recursive: true);
}

var configDir = Path.Combine(options.Work, "config");
Directory.CreateDirectory(configDir);

// 1. skein-control with an empty config directory.
var startedAt = Stopwatch.GetTimestamp();
await using var control = await ControlPlaneProcess.StartAsync(options.Control, configDir, options.Work, cancel);
report.StartSeconds = Stopwatch.GetElapsedTime(startedAt).TotalSeconds;
using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{control.HttpPort}"), Timeout = TimeSpan.FromSeconds(60) };
report.Idle = control.Sample(options.ClockTicks);
report.IdleHeap = await control.HeapAsync(collect: false, cancel);
Log($"skein-control pid {control.Pid} up in {report.StartSeconds:F1} s (xds :{control.XdsPort}, http :{control.HttpPort}); RSS {report.Idle.RssKiB / 1024} MiB");

// 2. Register every instance as skein up's runtime does, one POST per instance.
var registerAt = Stopwatch.GetTimestamp();
var registered = 0;
await Parallel.ForEachAsync(mesh.Instances, new ParallelOptions { MaxDegreeOfParallelism = options.RegisterParallelism, CancellationToken = cancel }, async (instance, token) =>
{
    await RegisterAsync(instance, token);
    if (Interlocked.Increment(ref registered) % 500 == 0)
    {
        Log($"registered {registered}/{proxyCount} instances");
    }
});
report.RegisterSeconds = Stopwatch.GetElapsedTime(registerAt).TotalSeconds;
Log($"registered {proxyCount} instances in {report.RegisterSeconds:F1} s");

// 3. The mesh's config appears in the watched directory (one reload, one new snapshot).
var versionBefore = await ConfigVersionAsync(cancel);
var loadAt = Stopwatch.GetTimestamp();
foreach (var (file, yaml) in mesh.ConfigFiles())
{
    await File.WriteAllTextAsync(Path.Combine(configDir, $".{file}.tmp"), yaml, cancel);
    File.Move(Path.Combine(configDir, $".{file}.tmp"), Path.Combine(configDir, file));
}

// The watcher may reload more than once while the files arrive: wait for every resource and a quiet second.
var expected = options.Services * 5;
var lastVersion = versionBefore;
var lastChange = Stopwatch.GetTimestamp();
while (true)
{
    await Task.Delay(50, cancel);
    var version = await ConfigVersionAsync(cancel);
    if (version != lastVersion)
    {
        lastVersion = version;
        lastChange = Stopwatch.GetTimestamp();
        continue;
    }

    if (version == versionBefore || Stopwatch.GetElapsedTime(lastChange) < TimeSpan.FromSeconds(1))
    {
        continue;
    }

    using var status = JsonDocument.Parse(await http.GetStringAsync("/api/v1/config/status", cancel));
    if (status.RootElement.GetProperty("directoryErrors").GetArrayLength() > 0)
    {
        throw new InvalidOperationException($"skein-control refused the generated config: {status.RootElement.GetProperty("directoryErrors")}");
    }

    report.ConfigResources = status.RootElement.GetProperty("resources").GetArrayLength();
    if (report.ConfigResources == expected)
    {
        break;
    }
}

report.ConfigLoadSeconds = Stopwatch.GetElapsedTime(loadAt, lastChange).TotalSeconds;
Log($"config directory loaded: {report.ConfigResources} resources in {report.ConfigLoadSeconds:F1} s");

// 4. What one registration costs once the mesh is loaded (each rebuilds the snapshot): a few extra replicas, added
//    one at a time and removed again, before any proxy is connected.
var extra = mesh.Instances.Take(options.RegistrationSamples).Select(i => i with { Id = i.Id[..^2] + "-1", Address = "198.18.250." + (i.Index + 1).ToString(CultureInfo.InvariantCulture) }).ToList();
var sampleAt = Stopwatch.GetTimestamp();
foreach (var instance in extra)
{
    await RegisterAsync(instance, cancel);
}

report.RegisterLoadedMs = Stopwatch.GetElapsedTime(sampleAt).TotalMilliseconds / Math.Max(1, extra.Count);
foreach (var instance in extra)
{
    using var _ = await http.DeleteAsync($"/api/v1/registry/instances/{instance.Id}", cancel);
}

report.Registered = control.Sample(options.ClockTicks);
report.RegisteredHeap = await control.HeapAsync(collect: false, cancel);
Log($"one more registration with the mesh loaded: {report.RegisterLoadedMs:F0} ms; RSS {report.Registered.RssKiB / 1024} MiB");

// 5. Connect every proxy at once (a control plane start), at most N connection handshakes in flight.
var recorder = new Recorder(proxyCount);
var syncPhase = recorder.Begin("initial sync");
report.SyncPhase = syncPhase;
using var stopProxies = CancellationTokenSource.CreateLinkedTokenSource(cancel);
var channelCount = options.Connections <= 0 ? proxyCount : Math.Min(options.Connections, proxyCount);
report.ConnectionsUsed = channelCount;
var channels = Enumerable.Range(0, channelCount).Select(_ => GrpcChannel.ForAddress($"http://127.0.0.1:{control.XdsPort}", new GrpcChannelOptions
{
    MaxReceiveMessageSize = null,
    HttpHandler = new SocketsHttpHandler
    {
        EnableMultipleHttp2Connections = true,
        KeepAlivePingDelay = TimeSpan.FromSeconds(30),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
        ConnectTimeout = TimeSpan.FromSeconds(10),
    },
})).ToArray();
var proxies = mesh.Instances.Select(i => new FakeAdsProxy(i.Index, FakeAdsProxy.SidecarNode(i), recorder)).ToArray();
using var handshakes = new SemaphoreSlim(options.ConnectConcurrency);
var runs = proxies.Select(p => Task.Run(async () =>
{
    var channel = channels[p.Index % channelCount];
    await handshakes.WaitAsync(stopProxies.Token);
    try
    {
        await channel.ConnectAsync(stopProxies.Token);
    }
    finally
    {
        handshakes.Release();
    }

    await p.RunAsync(channel, stopProxies.Token);
}, CancellationToken.None)).ToArray();

report.SyncComplete = await WaitUntilAsync(() => recorder.Synced == proxyCount, Left(), "initial sync", () => $"{recorder.Synced}/{proxyCount} synced, {recorder.StreamFailures} stream failures");
report.SyncedProxies = recorder.Synced;
report.ProxySyncSeconds = [.. Enumerable.Range(0, proxyCount).Where(i => recorder.SyncedAt(i) != 0).Select(i => Stopwatch.GetElapsedTime(syncPhase.Start, recorder.SyncedAt(i)).TotalSeconds).Order()];
report.SyncSeconds = report.SyncComplete ? report.ProxySyncSeconds[^1] : Stopwatch.GetElapsedTime(syncPhase.Start).TotalSeconds;
report.Synced = control.Sample(options.ClockTicks);
report.SyncedHeap = await control.HeapAsync(collect: false, cancel);
Log($"{report.SyncedProxies}/{proxyCount} proxies synced after {report.SyncSeconds:F1} s: {syncPhase.Breakdown()}; RSS {report.Synced.RssKiB / 1024} MiB (peak {report.Synced.HwmKiB / 1024} MiB)");

// 6. Config changes through the HTTP API, one at a time, each shifting one service's weights, while time is left.
var beforeChanges = report.Synced;
if (report.SyncComplete)
{
    var settle = recorder.Begin("after sync");
    await QuietAsync(settle, TimeSpan.FromSeconds(1));
    report.AfterSyncPhase = settle;
    beforeChanges = control.Sample(options.ClockTicks);
    var lastDuration = TimeSpan.FromSeconds(5);
    for (var k = 0; k < options.Changes; k++)
    {
        if (Left() < lastDuration * 1.5)
        {
            report.StoppedEarly = $"stopped after {k} of {options.Changes} changes: the next one would not finish within the time bound ({options.DeadlineSeconds} s for the benchmark)";
            Log(report.StoppedEarly);
            break;
        }

        var changeAt = Stopwatch.GetTimestamp();
        var change = await ChangeAsync(k);
        lastDuration = Stopwatch.GetElapsedTime(changeAt);
        report.Changes.Add(change);
        if (!change.Complete)
        {
            report.StoppedEarly = $"change {k + 1} did not reach every proxy within the time left ({change.Phase.Affected} of {proxyCount} got it)";
            break;
        }
    }
}

// 7. Final figures, then stop everything.
report.Changed = control.Sample(options.ClockTicks);
report.ChangeCpuSeconds = report.Changed.CpuSeconds - beforeChanges.CpuSeconds;
report.ChangedHeap = await control.HeapAsync(collect: false, CancellationToken.None);
report.LiveHeap = await control.HeapAsync(collect: true, CancellationToken.None);
report.AfterGc = control.Sample(options.ClockTicks);
report.Metrics = await http.GetStringAsync("/metrics", CancellationToken.None);
report.Bench = ProcSample.Read(Environment.ProcessId, options.ClockTicks);
report.LoadAfter = File.ReadAllText("/proc/loadavg").Trim();
report.StreamFailures = recorder.StreamFailures;
report.FirstFailure = recorder.FirstFailure;
report.TotalSeconds = clock.Elapsed.TotalSeconds;

await stopProxies.CancelAsync();
try
{
    await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
}
catch (Exception e) when (e is OperationCanceledException or TimeoutException)
{
}

foreach (var channel in channels)
{
    channel.Dispose();
}

var markdown = report.Markdown();
if (options.Section is { } section)
{
    await File.WriteAllTextAsync(section, markdown, CancellationToken.None);
}

if (options.Json is { } json)
{
    await File.WriteAllTextAsync(json, report.Json(), CancellationToken.None);
}

Console.WriteLine(markdown);
Log("done");
return 0;

async Task RegisterAsync(Instance instance, CancellationToken token)
{
    var body = JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["id"] = instance.Id,
        ["workload"] = instance.Workload,
        ["namespace"] = instance.Namespace,
        ["address"] = instance.Address,
        ["ports"] = new[] { new Dictionary<string, object> { ["name"] = "http", ["port"] = instance.Port, ["protocol"] = "HTTP" } },
        ["labels"] = new Dictionary<string, string> { ["app"] = instance.App, ["version"] = instance.Version },
        ["serviceAccount"] = instance.ServiceAccount,
        ["healthy"] = true,
    });
    using var content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
    using var response = await http.PostAsync("/api/v1/registry/instances", content, token);
    if (!response.IsSuccessStatusCode)
    {
        throw new InvalidOperationException($"registering {instance.Id}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(token)}");
    }
}

async Task<long> ConfigVersionAsync(CancellationToken token)
{
    var metrics = await http.GetStringAsync("/metrics", token);
    var m = Regex.Match(metrics, @"^skein_control_config_version (\d+)$", RegexOptions.Multiline);
    return m.Success ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : -1;
}

async Task<ChangeResult> ChangeAsync(int k)
{
    var service = ((k * 53) + 7) % options.Services;
    var v1 = 80 - ((k % 4) * 10);
    var phase = recorder.Begin($"change {k + 1}");
    var t0 = Stopwatch.GetTimestamp();
    phase.Start = t0;
    using var content = new StringContent(mesh.VirtualServiceYaml(service, v1, 100 - v1), Encoding.UTF8, new MediaTypeHeaderValue("application/yaml"));
    using var response = await http.PostAsync($"/api/v1/config?file=bench-change-{k + 1}.yaml", content, cancel);
    var apiMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    var answer = await response.Content.ReadAsStringAsync(cancel);
    if (!response.IsSuccessStatusCode)
    {
        throw new InvalidOperationException($"change {k + 1} refused: {(int)response.StatusCode} {answer}");
    }

    long version;
    using (var doc = JsonDocument.Parse(answer))
    {
        version = doc.RootElement.GetProperty("version").GetInt64();
    }

    int Reached() => Enumerable.Range(0, proxyCount).Count(i => recorder.RdsVersion(i) >= version);
    var complete = await WaitUntilAsync(() => Reached() == proxyCount, TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(options.ChangeTimeoutSeconds).Ticks, Left().Ticks)), $"change {k + 1}", () => $"{Reached()}/{proxyCount} proxies ACKed routes version {version}");
    if (complete)
    {
        await QuietAsync(phase, TimeSpan.FromMilliseconds(300));
    }

    var perProxy = Enumerable.Range(0, proxyCount).Where(i => recorder.RdsVersion(i) >= version).Select(i => Stopwatch.GetElapsedTime(t0, recorder.RdsAckedAt(i)).TotalMilliseconds).Order().ToArray();
    var host = mesh.Host(service);
    var result = new ChangeResult(k + 1, host, v1, 100 - v1, version, apiMs, complete ? Stopwatch.GetElapsedTime(t0, phase.LastAck).TotalMilliseconds : double.NaN, perProxy, phase, complete && Verify(host, v1, 100 - v1), complete);
    Log($"change {k + 1}: {host} {v1}/{100 - v1} (version {version}): API {apiMs:F0} ms, last ACK {result.LastAckMs:F0} ms, median proxy {Report.Percentile(perProxy, 0.5):F0} ms; {phase.Affected} proxies got {phase.Breakdown()}; proxy 0 has the new weights: {result.Verified}");
    return result;
}

// Polls until the condition holds (true), the timeout passes (false), or a fake proxy fails (throws).
async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what, Func<string> progress)
{
    var started = Stopwatch.StartNew();
    var lastLog = TimeSpan.Zero;
    while (!condition())
    {
        if (runs.FirstOrDefault(r => r.IsFaulted) is { } failed)
        {
            throw new InvalidOperationException($"{what}: a fake proxy failed: {failed.Exception!.InnerException!.Message}", failed.Exception);
        }

        if (started.Elapsed > timeout)
        {
            Log($"{what}: not done after {started.Elapsed.TotalSeconds:F0} s, the time left ({progress()})");
            return false;
        }

        if (started.Elapsed - lastLog >= TimeSpan.FromSeconds(10))
        {
            lastLog = started.Elapsed;
            Log($"{what}: {progress()}");
        }

        await Task.Delay(10, cancel);
    }

    return true;
}

async Task QuietAsync(Phase phase, TimeSpan quiet)
{
    while (Stopwatch.GetElapsedTime(phase.LastEvent) < quiet)
    {
        await Task.Delay(20, cancel);
    }
}

// Proxy 0's last route configuration must send host's traffic v1/v2 by the weights just applied.
bool Verify(string host, int v1, int v2)
{
    if (recorder.LastRdsOfFirstProxy is not { } rds)
    {
        return false;
    }

    foreach (var any in rds.Resources)
    {
        foreach (var vhost in RouteConfiguration.Parser.ParseFrom(any.Value).VirtualHosts)
        {
            if (!vhost.Domains.Contains(host))
            {
                continue;
            }

            var clusters = vhost.Routes.FirstOrDefault()?.Route_?.WeightedClusters?.Clusters;
            return clusters is not null
                && clusters.Any(c => c.Name.Contains("|v1|", StringComparison.Ordinal) && c.Weight == (uint)v1)
                && clusters.Any(c => c.Name.Contains("|v2|", StringComparison.Ordinal) && c.Weight == (uint)v2);
        }
    }

    return false;
}

namespace Skein.Bench.ControlPlaneScale
{
    internal sealed record Options
    {
        public required string Control { get; init; }

        public int Services { get; init; } = 1000;

        public int Namespaces { get; init; } = 10;

        public int Changes { get; init; } = 20;

        public int Connections { get; init; }

        public int ConnectConcurrency { get; init; } = 64;

        public int RegisterParallelism { get; init; } = 4;

        public int RegistrationSamples { get; init; } = 10;

        public string Work { get; init; } = Path.Combine(Path.GetTempPath(), "skein-bench-control");

        public string? Section { get; init; }

        public string? Json { get; init; }

        public string Command { get; init; } = "bench/control-plane.sh";

        public int ClockTicks { get; init; } = 100;

        public int DeadlineSeconds { get; init; } = 270;

        public int ChangeTimeoutSeconds { get; init; } = 60;

        public static Options Parse(string[] args)
        {
            string? control = null;
            var o = new Options { Control = "" };
            for (var i = 0; i < args.Length; i++)
            {
                var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]}: a value is required");
                int Int() => int.Parse(value, CultureInfo.InvariantCulture);
                o = args[i] switch
                {
                    "--control" => o with { Control = control = value },
                    "--services" => o with { Services = Int() },
                    "--namespaces" => o with { Namespaces = Int() },
                    "--changes" => o with { Changes = Int() },
                    "--connections" => o with { Connections = Int() },
                    "--connect-concurrency" => o with { ConnectConcurrency = Int() },
                    "--work" => o with { Work = value },
                    "--section" => o with { Section = value },
                    "--json" => o with { Json = value },
                    "--command" => o with { Command = value },
                    "--clk-tck" => o with { ClockTicks = Int() },
                    "--deadline" => o with { DeadlineSeconds = Int() },
                    _ => throw new ArgumentException($"unknown option {args[i]}"),
                };
                i++;
            }

            return control is null ? throw new ArgumentException("--control PATH/skein-control is required") : o;
        }
    }
}
