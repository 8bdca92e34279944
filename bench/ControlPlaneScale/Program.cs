// Scale benchmark of skein-control (issue 4): one real skein-control process serving a generated mesh of N services
// (2 instances each) to 2N fake ADS proxies over real gRPC, measuring the initial sync, the time from a config change
// through the HTTP API to the last proxy's ACK, memory and CPU. bench/control-plane.sh builds and runs it and puts the
// figures into bench/RESULTS.md.
//
// usage: ControlPlaneScale --control PATH/skein-control [--services 1000] [--namespaces 10] [--changes 20]
//          [--connections 0 (0: one HTTP/2 connection per proxy)] [--work DIR] [--section FILE] [--json FILE]
//          [--command TEXT] [--clk-tck 100] [--deadline 280]
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Grpc.Net.Client;
using Skein.Bench.ControlPlaneScale;
using Skein.Xds.Envoy.Config.Route.V3;

var options = Options.Parse(args);
var clock = Stopwatch.StartNew();
void Log(string message) => Console.Error.WriteLine($"[{clock.Elapsed.TotalSeconds,6:F1}s] {message}");

using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(options.DeadlineSeconds));
var cancel = deadline.Token;
var mesh = new MeshModel(options.Services, options.Namespaces);
var proxyCount = mesh.Instances.Count;
var report = new Report(options, mesh);

if (Directory.Exists(options.Work))
{
    Directory.Delete(options.Work, recursive: true);
}

var configDir = Path.Combine(options.Work, "config");
Directory.CreateDirectory(configDir);
foreach (var (file, yaml) in mesh.ConfigFiles())
{
    await File.WriteAllTextAsync(Path.Combine(configDir, file), yaml, cancel);
}

Log($"mesh: {options.Services} services in {options.Namespaces} namespaces, {proxyCount} instances; config in {configDir}");

var startedAt = Stopwatch.GetTimestamp();
await using var control = await ControlPlaneProcess.StartAsync(options.Control, configDir, options.Work, cancel);
report.StartSeconds = Stopwatch.GetElapsedTime(startedAt).TotalSeconds;
using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{control.HttpPort}"), Timeout = TimeSpan.FromSeconds(60) };
var status = await GetJsonAsync(http, "/api/v1/config/status", cancel);
report.ConfigResources = status.RootElement.GetProperty("resources").GetArrayLength();
if (status.RootElement.GetProperty("directoryErrors").GetArrayLength() > 0)
{
    throw new InvalidOperationException($"skein-control refused the generated config: {status.RootElement.GetProperty("directoryErrors")}");
}

report.Idle = control.Sample(options.ClockTicks);
report.IdleHeap = await control.HeapAsync(collect: false, cancel);
Log($"skein-control pid {control.Pid} up in {report.StartSeconds:F1} s (xds :{control.XdsPort}, http :{control.HttpPort}), {report.ConfigResources} resources; RSS {report.Idle.RssKiB / 1024} MiB");

// Register every instance as skein up's runtime does: one POST per instance.
var registerAt = Stopwatch.GetTimestamp();
var registered = 0;
await Parallel.ForEachAsync(mesh.Instances, new ParallelOptions { MaxDegreeOfParallelism = options.RegisterParallelism, CancellationToken = cancel }, async (instance, token) =>
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

    var n = Interlocked.Increment(ref registered);
    if (n % 500 == 0)
    {
        Log($"registered {n}/{proxyCount} instances");
    }
});
report.RegisterSeconds = Stopwatch.GetElapsedTime(registerAt).TotalSeconds;
report.Registered = control.Sample(options.ClockTicks);
report.RegisteredHeap = await control.HeapAsync(collect: false, cancel);
Log($"registered {proxyCount} instances in {report.RegisterSeconds:F1} s; RSS {report.Registered.RssKiB / 1024} MiB");

// Connect every proxy (a control plane start: all proxies at once, at most N connection handshakes in flight).
var recorder = new Recorder(proxyCount);
var syncPhase = recorder.Begin("initial sync");
using var stopProxies = CancellationTokenSource.CreateLinkedTokenSource(cancel);
var channelCount = options.Connections <= 0 ? proxyCount : Math.Min(options.Connections, proxyCount);
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

await WaitUntilAsync(() => recorder.Synced == proxyCount, TimeSpan.FromSeconds(options.SyncTimeoutSeconds), "initial sync", () => $"{recorder.Synced}/{proxyCount} synced");
report.ProxySyncSeconds = [.. Enumerable.Range(0, proxyCount).Select(i => Stopwatch.GetElapsedTime(syncPhase.Start, recorder.SyncedAt(i)).TotalSeconds).Order()];
report.SyncSeconds = report.ProxySyncSeconds[^1];
report.Synced = control.Sample(options.ClockTicks);
report.SyncedHeap = await control.HeapAsync(collect: false, cancel);
report.SyncPhase = syncPhase;
Log($"all {proxyCount} proxies synced in {report.SyncSeconds:F1} s: {syncPhase.Breakdown()}; RSS {report.Synced.RssKiB / 1024} MiB (peak {report.Synced.HwmKiB / 1024} MiB)");

// Let stragglers finish; nothing more should be pushed.
var settle = recorder.Begin("after sync");
await QuietAsync(settle, TimeSpan.FromSeconds(1));
report.AfterSyncPhase = settle;

// Config changes through the HTTP API, one at a time: each shifts one service's weights.
var beforeChanges = control.Sample(options.ClockTicks);
for (var k = 0; k < options.Changes; k++)
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

    await WaitUntilAsync(
        () => Enumerable.Range(0, proxyCount).All(i => recorder.RdsVersion(i) >= version),
        TimeSpan.FromSeconds(options.ChangeTimeoutSeconds),
        $"change {k + 1}",
        () => $"{Enumerable.Range(0, proxyCount).Count(i => recorder.RdsVersion(i) >= version)}/{proxyCount} proxies ACKed routes version {version}");
    await QuietAsync(phase, TimeSpan.FromMilliseconds(300));
    var perProxy = Enumerable.Range(0, proxyCount).Select(i => Stopwatch.GetElapsedTime(t0, recorder.RdsAckedAt(i)).TotalMilliseconds).Order().ToArray();
    var change = new ChangeResult(k + 1, mesh.Host(service), v1, 100 - v1, version, apiMs, Stopwatch.GetElapsedTime(t0, phase.LastAck).TotalMilliseconds, perProxy, phase, Verify(recorder, mesh.Host(service), v1, 100 - v1));
    report.Changes.Add(change);
    Log($"change {k + 1}: {change.Host} {v1}/{100 - v1} (version {version}): API {apiMs:F0} ms, last ACK {change.LastAckMs:F0} ms, median proxy {Report.Percentile(perProxy, 0.5):F0} ms; {phase.Affected} proxies got {phase.Breakdown()}; proxy 0 has the new weights: {change.Verified}");
}

report.Changed = control.Sample(options.ClockTicks);
report.ChangeCpuSeconds = report.Changed.CpuSeconds - beforeChanges.CpuSeconds;
report.ChangedHeap = await control.HeapAsync(collect: false, cancel);
report.LiveHeap = await control.HeapAsync(collect: true, cancel);
report.AfterGc = control.Sample(options.ClockTicks);
report.Metrics = await http.GetStringAsync("/metrics", cancel);
report.Bench = ProcSample.Read(Environment.ProcessId, options.ClockTicks);
report.ConnectionsUsed = channelCount;

// Stop the proxies, then skein-control (SIGTERM).
await stopProxies.CancelAsync();
try
{
    await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(20), CancellationToken.None);
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

async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what, Func<string> progress)
{
    var started = Stopwatch.StartNew();
    var lastLog = TimeSpan.Zero;
    while (!condition())
    {
        var failed = runs.FirstOrDefault(r => r.IsFaulted);
        if (failed is not null)
        {
            throw new InvalidOperationException($"{what}: a fake proxy failed: {failed.Exception!.InnerException!.Message}", failed.Exception);
        }

        if (started.Elapsed > timeout)
        {
            throw new TimeoutException($"{what}: not done after {timeout.TotalSeconds:F0} s ({progress()})");
        }

        if (started.Elapsed - lastLog >= TimeSpan.FromSeconds(5))
        {
            lastLog = started.Elapsed;
            Log($"{what}: {progress()}");
        }

        await Task.Delay(5, cancel);
    }
}

async Task QuietAsync(Phase phase, TimeSpan quiet)
{
    while (Stopwatch.GetElapsedTime(phase.LastEvent) < quiet)
    {
        await Task.Delay(20, cancel);
    }
}

static async Task<JsonDocument> GetJsonAsync(HttpClient http, string path, CancellationToken cancel) =>
    JsonDocument.Parse(await http.GetStringAsync(path, cancel));

// Proxy 0's last route configuration must send host's traffic v1/v2 by the weights just applied.
static bool Verify(Recorder recorder, string host, int v1, int v2)
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

        public string Work { get; init; } = Path.Combine(Path.GetTempPath(), "skein-bench-control");

        public string? Section { get; init; }

        public string? Json { get; init; }

        public string Command { get; init; } = "bench/control-plane.sh";

        public int ClockTicks { get; init; } = 100;

        public int DeadlineSeconds { get; init; } = 280;

        public int SyncTimeoutSeconds { get; init; } = 180;

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
