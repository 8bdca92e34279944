using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Skein.Bench.ControlPlaneScale;

/// <summary>One config change: what was changed, and when the proxies had it.</summary>
/// <param name="PerProxyMs">Each proxy's ACK of the new routes, ms after the API call, sorted.</param>
/// <param name="Complete">Every proxy ACKed the new routes within the time left.</param>
internal sealed record ChangeResult(int Number, string Host, int V1, int V2, long Version, double ApiMs, double LastAckMs, double[] PerProxyMs, Phase Phase, bool Verified, bool Complete);

/// <summary>The figures of one run, as the RESULTS.md section and as JSON.</summary>
internal sealed partial class Report(Options options, MeshModel mesh)
{
    public double StartSeconds { get; set; }

    public int ConfigResources { get; set; }

    public double RegisterSeconds { get; set; }

    public double ConfigLoadSeconds { get; set; }

    public double RegisterLoadedMs { get; set; }

    public bool SyncComplete { get; set; }

    public int SyncedProxies { get; set; }

    public string? StoppedEarly { get; set; }

    public string LoadBefore { get; set; } = "";

    public string LoadAfter { get; set; } = "";

    public double TotalSeconds { get; set; }

    public int StreamFailures { get; set; }

    public string? FirstFailure { get; set; }

    public double SyncSeconds { get; set; }

    public double[] ProxySyncSeconds { get; set; } = [];

    public Phase? SyncPhase { get; set; }

    public Phase? AfterSyncPhase { get; set; }

    public List<ChangeResult> Changes { get; } = [];

    public double ChangeCpuSeconds { get; set; }

    public int ConnectionsUsed { get; set; }

    public ProcSample Idle { get; set; } = new(0, 0, 0);

    public ProcSample Registered { get; set; } = new(0, 0, 0);

    public ProcSample Synced { get; set; } = new(0, 0, 0);

    public ProcSample Changed { get; set; } = new(0, 0, 0);

    public ProcSample AfterGc { get; set; } = new(0, 0, 0);

    public ProcSample Bench { get; set; } = new(0, 0, 0);

    public HeapSample? IdleHeap { get; set; }

    public HeapSample? RegisteredHeap { get; set; }

    public HeapSample? SyncedHeap { get; set; }

    public HeapSample? ChangedHeap { get; set; }

    public HeapSample? LiveHeap { get; set; }

    public string Metrics { get; set; } = "";

    private int Proxies => mesh.Instances.Count;

    public static double Percentile(IReadOnlyList<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    public string Markdown()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var done = Changes.Where(x => x.Complete).ToList();
        var lastAcks = done.Select(x => x.LastAckMs).Order().ToArray();
        var allAcks = done.SelectMany(x => x.PerProxyMs).Order().ToArray();
        var api = Changes.Select(x => x.ApiMs).Order().ToArray();
        var sync = SyncPhase!;
        var first = done.FirstOrDefault()?.Phase;
        var heap = LiveHeap!;

        sb.Append(c, $"## Control plane: {mesh.Services:N0} services, {Proxies:N0} proxies\n\n");
        sb.Append(c, $"Produced by `{options.Command}` on {DateTime.UtcNow:yyyy-MM-dd} ({Machine()}); load average (1/5/15 min) {Load(LoadBefore)} at the start and {Load(LoadAfter)} at the end: the machine is shared, other work ran beside the benchmark. The benchmark took {TotalSeconds:F0} s within its bound of {options.DeadlineSeconds} s.\n\n");
        sb.Append(c, $"Setup: one skein-control process (Release build, default settings: push debounce 100 ms, {(heap.ServerGc ? "server" : "workstation")} GC, Information log to a file) on loopback. ");
        sb.Append(c, $"The benchmark process (`bench/ControlPlaneScale`) runs {Proxies:N0} fake ADS proxies over real gRPC (h2c, Grpc.Net.Client), {(ConnectionsUsed == Proxies ? "each on its own HTTP/2 connection" : "sharing HTTP/2 connections")} ({ConnectionsUsed:N0} connections, opened at most {options.ConnectConcurrency} at a time), on the same cores as skein-control. ");
        sb.Append(c, $"Mesh: {mesh.Services:N0} Services in {mesh.Namespaces} namespaces, each with two Workloads (v1 and v2, one instance each: {Proxies:N0} instances registered with one POST `/api/v1/registry/instances` each, {options.RegisterParallelism} at a time), a DestinationRule (connection pool, outlier detection, subsets v1/v2) and a VirtualService (90/10 weighted route, timeout, retries); {ConfigResources:N0} config resources in the watched config directory. Every service is on port 8080 and visible mesh-wide, so every sidecar gets every service. ");
        sb.Append(c, $"Each proxy has its own node id and the node metadata `skein up` gives a sidecar (INSTANCE_ID, WORKLOAD_NAME, LABELS, APP_PORTS…), subscribes as skein-proxy does (CDS wildcard, EDS by cluster names, LDS wildcard, RDS by route names) and ACKs every response (no validation, never NACKs). ");
        sb.Append(c, $"A change is a POST `/api/v1/config` of one VirtualService with new weights; the next change starts once every proxy has ACKed it and nothing was pushed for 300 ms. Latency: from sending the API call to the last ACK written by an affected proxy.\n\n");

        sb.Append("| measure | result |\n|---|---|\n");
        sb.Append(c, $"| skein-control start (empty config directory) | {StartSeconds:F1} s |\n");
        sb.Append(c, $"| register {Proxies:N0} instances into the empty mesh | {RegisterSeconds:F1} s |\n");
        sb.Append(c, $"| config directory with {ConfigResources:N0} resources loaded into a snapshot | {ConfigLoadSeconds:F1} s |\n");
        sb.Append(c, $"| one more registration once the mesh is loaded | {RegisterLoadedMs:F0} ms each (answered at once with the version that will hold it; the snapshot is rebuilt after 20 ms without registrations, so a burst costs one rebuild) |\n");
        if (SyncComplete)
        {
            sb.Append(c, $"| initial sync: all {Proxies:N0} proxies connected with CDS, EDS, LDS, RDS ACKed | **{SyncSeconds:F1} s** (per proxy: p50 {Percentile(ProxySyncSeconds, 0.5):F1} s, p99 {Percentile(ProxySyncSeconds, 0.99):F1} s) |\n");
        }
        else
        {
            sb.Append(c, $"| initial sync | **incomplete: {SyncedProxies:N0} of {Proxies:N0} proxies synced after {SyncSeconds:F0} s**, when the time bound ended it |\n");
        }

        sb.Append(c, $"| pushed during initial sync | {sync.TotalResponses:N0} responses, {sync.TotalResources:N0} resources, {sync.TotalBytes / 1073741824.0:F2} GiB: {sync.Breakdown()} |\n");
        sb.Append(c, $"| per proxy | {PerProxy(sync)} |\n");
        if (done.Count > 0)
        {
            sb.Append(c, $"| **config change → last affected proxy's ACK** ({done.Count} changes) | **p50 {Percentile(lastAcks, 0.5):F0} ms, p99 {Percentile(lastAcks, 0.99):F0} ms, max {lastAcks[^1]:F0} ms** (nearest rank: with {done.Count} samples p99 is the largest) |\n");
            sb.Append(c, $"| config change → each proxy's ACK ({allAcks.Length:N0} ACKs) | p50 {Percentile(allAcks, 0.5):F0} ms, p99 {Percentile(allAcks, 0.99):F0} ms, max {allAcks[^1]:F0} ms |\n");
            sb.Append(c, $"| the config API call itself (POST answered) | p50 {Percentile(api, 0.5):F0} ms, max {api[^1]:F0} ms |\n");
            sb.Append(c, $"| pushed per change | {first!.Affected:N0} proxies; {first.Breakdown()} (change 1; all {done.Count}: {done.Sum(x => x.Phase.TotalResources):N0} resources, {done.Sum(x => x.Phase.TotalBytes) / 1048576.0:F0} MiB) |\n");
            sb.Append(c, $"| proxy 0 got the new weights | {done.Count(x => x.Verified)} of {done.Count} changes |\n");
        }

        if (StoppedEarly is not null)
        {
            sb.Append(c, $"| **changes measured** | **{done.Count} of {options.Changes}**: {StoppedEarly} |\n");
        }

        var g = heap.Generations;
        sb.Append(c, $"| **skein-control managed heap** | live after a full GC at the end: **{Mib(heap.TotalMemory)}** (gen2 {Mib(g.ElementAtOrDefault(2))}, large objects {Mib(g.ElementAtOrDefault(3))}, pinned {Mib(g.ElementAtOrDefault(4))}); GC heap at the last GC: idle {Mib(IdleHeap!.HeapSize)}, after registration and config {Mib(RegisteredHeap!.HeapSize)}, after sync {Mib(SyncedHeap!.HeapSize)}, at the end {Mib(ChangedHeap!.HeapSize)}; peak {Mib(heap.PeakHeapSize)} (committed peak {Mib(heap.PeakCommitted)}) |\n");
        sb.Append(c, $"| **skein-control RSS** (VmRSS) | idle {Kib(Idle.RssKiB)}, after registration and config {Kib(Registered.RssKiB)}, after sync {Kib(Synced.RssKiB)}, at the end {Kib(Changed.RssKiB)}, after the full GC {Kib(AfterGc.RssKiB)}; **peak (VmHWM) {Kib(AfterGc.HwmKiB)}** |\n");
        sb.Append(c, $"| skein-control CPU | start {Idle.CpuSeconds:F1} s, registration and config {Registered.CpuSeconds - Idle.CpuSeconds:F1} s, initial sync {Synced.CpuSeconds - Registered.CpuSeconds:F1} s, {Changes.Count} changes {ChangeCpuSeconds:F1} s ({ChangeCpuSeconds / Math.Max(1, Changes.Count):F1} s each); total {Changed.CpuSeconds:F1} s |\n");
        sb.Append(c, $"| skein-control GC | {heap.Gen0:N0} gen0, {heap.Gen1:N0} gen1, {heap.Gen2:N0} gen2 collections (2 forced at the end), {heap.PauseMs / 1000:F1} s paused, {heap.Allocated / 1073741824.0:F1} GiB allocated |\n");
        sb.Append(c, $"| skein-control's own counters (`/metrics`) | {MetricsSummary()} |\n");
        sb.Append(c, $"| ADS streams that failed (the proxy reconnects after 0.5-1 s) | {StreamFailures:N0}{(FirstFailure is null ? "" : $"; first: {Cell(FirstFailure)}")} |\n");
        sb.Append(c, $"| benchmark process (fake proxies, same machine) | CPU {Bench.CpuSeconds:F1} s, peak RSS {Kib(Bench.HwmKiB)} |\n\n");

        if (Changes.Count > 0)
        {
            sb.Append("| change | VirtualService | weights v1/v2 | API call ms | last ACK ms | median proxy ACK ms | proxies pushed | pushed |\n");
            sb.Append("|---|---|---|---|---|---|---|---|\n");
            foreach (var x in Changes)
            {
                var last = x.Complete ? x.LastAckMs.ToString("F0", c) : $"incomplete ({x.PerProxyMs.Length:N0} ACKed)";
                sb.Append(c, $"| {x.Number} | {x.Host} | {x.V1}/{x.V2} | {x.ApiMs:F0} | {last} | {Percentile(x.PerProxyMs, 0.5):F0} | {x.Phase.Affected:N0} | {x.Phase.Breakdown()} |\n");
            }

            sb.Append('\n');
        }

        sb.Append("Managed heap is read inside skein-control by a startup hook the benchmark loads with `DOTNET_STARTUP_HOOKS` (bench/ControlPlaneScale/StartupHook.cs; skein-control itself is unchanged); RSS and CPU come from `/proc/<pid>/status` and `/proc/<pid>/stat`. ");
        sb.Append("The fake proxies share the cores with skein-control, so every time here includes the benchmark's own work.\n\n");
        return sb.ToString();
    }

    public string Json() => JsonSerializer.Serialize(new
    {
        services = mesh.Services,
        proxies = Proxies,
        connections = ConnectionsUsed,
        startSeconds = StartSeconds,
        registerSeconds = RegisterSeconds,
        syncSeconds = SyncSeconds,
        syncComplete = SyncComplete,
        syncedProxies = SyncedProxies,
        registerLoadedMs = RegisterLoadedMs,
        configLoadSeconds = ConfigLoadSeconds,
        stoppedEarly = StoppedEarly,
        streamFailures = StreamFailures,
        firstFailure = FirstFailure,
        syncP50 = Percentile(ProxySyncSeconds, 0.5),
        syncP99 = Percentile(ProxySyncSeconds, 0.99),
        syncResources = SyncPhase?.TotalResources,
        syncBytes = SyncPhase?.TotalBytes,
        changes = Changes.Select(x => new { x.Number, x.Host, x.V1, x.V2, x.Version, x.ApiMs, x.LastAckMs, medianMs = Percentile(x.PerProxyMs, 0.5), x.Complete, affected = x.Phase.Affected, resources = x.Phase.TotalResources, bytes = x.Phase.TotalBytes, x.Verified }),
        rss = new { Idle, Registered, Synced, Changed, AfterGc },
        heap = new { IdleHeap, RegisteredHeap, SyncedHeap, ChangedHeap, LiveHeap },
        bench = Bench,
    }, JsonOptions);

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private string PerProxy(Phase sync)
    {
        var parts = new List<string>();
        for (var t = 0; t < 4; t++)
        {
            // Every proxy subscribes once per type; later responses in the sync phase are re-pushes.
            if (sync.Responses(t) > 0)
            {
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"{(double)sync.Resources(t) / sync.Responses(t):N0} {Phase.TypeNames[t]} resources"));
            }
        }

        return string.Join(", ", parts) + string.Create(CultureInfo.InvariantCulture, $" per response; {sync.TotalBytes / (double)Proxies / 1048576.0:F2} MiB per proxy");
    }

    private string MetricsSummary()
    {
        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (Match m in CounterLine().Matches(Metrics))
        {
            var key = $"{m.Groups[1].Value} {m.Groups[2].Value}";
            counts[key] = long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
        }

        return counts.Count == 0 ? "(none)" : string.Join(", ", counts.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:N0}")));
    }

    private static string Cell(string text)
    {
        var clean = text.Replace('|', '/').ReplaceLineEndings(" ");
        return clean.Length > 240 ? clean[..240] + "…" : clean;
    }

    private static string Load(string loadavg) => string.Join('/', loadavg.Split(' ').Take(3));

    private static string Machine()
    {
        var mem = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        var kib = long.Parse(mem.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        var model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        return string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessorCount} cores ({model}), {kib / 1048576.0:F0} GiB memory; .NET {Environment.Version}");
    }

    private static string Mib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:F0} MiB");

    private static string Kib(long kib) => string.Create(CultureInfo.InvariantCulture, $"{kib / 1024.0:F0} MiB");

    [GeneratedRegex(@"^skein_control_xds_(\w+)_total\{type=""(\w+)""\} (\d+)$", RegexOptions.Multiline)]
    private static partial Regex CounterLine();
}
