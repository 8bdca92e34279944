using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Skein.Bench.ControlPlaneScale;

/// <summary>One config change: what was changed, and when the proxies had it.</summary>
/// <param name="PerProxyMs">Each proxy's ACK of the new routes, ms after the API call, sorted.</param>
internal sealed record ChangeResult(int Number, string Host, int V1, int V2, long Version, double ApiMs, double LastAckMs, double[] PerProxyMs, Phase Phase, bool Verified);

/// <summary>The figures of one run, as the RESULTS.md section and as JSON.</summary>
internal sealed partial class Report(Options options, MeshModel mesh)
{
    public double StartSeconds { get; set; }

    public int ConfigResources { get; set; }

    public double RegisterSeconds { get; set; }

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
        var lastAcks = Changes.Select(x => x.LastAckMs).Order().ToArray();
        var allAcks = Changes.SelectMany(x => x.PerProxyMs).Order().ToArray();
        var api = Changes.Select(x => x.ApiMs).Order().ToArray();
        var sync = SyncPhase!;
        var first = Changes.FirstOrDefault()?.Phase;
        var heap = LiveHeap!;

        sb.Append(c, $"## Control plane: {mesh.Services:N0} services, {Proxies:N0} proxies\n\n");
        sb.Append(c, $"Produced by `{options.Command}` on {DateTime.UtcNow:yyyy-MM-dd} ({Machine()}).\n");
        sb.Append(c, $"One skein-control process (Release build, default settings: push debounce 100 ms, {(heap.ServerGc ? "server" : "workstation")} GC, Information log to a file), config from a watched directory, on loopback. ");
        sb.Append(c, $"The benchmark process (`bench/ControlPlaneScale`) runs {Proxies:N0} fake ADS proxies over real gRPC (h2c, Grpc.Net.Client) with {(ConnectionsUsed == Proxies ? "its own HTTP/2 connection per proxy" : $"{ConnectionsUsed} shared HTTP/2 connections")} ({ConnectionsUsed:N0} connections), on the same cores as skein-control.\n\n");
        sb.Append(c, $"Mesh: {mesh.Services:N0} Services in {mesh.Namespaces} namespaces, each with two Workloads (v1 and v2, one instance each: {Proxies:N0} instances, registered one POST `/api/v1/registry/instances` each, {options.RegisterParallelism} at a time), a DestinationRule (connection pool, outlier detection, subsets v1/v2) and a VirtualService (90/10 weighted route, timeout, retries); {ConfigResources:N0} config resources. All services on port 8080, visible mesh-wide: every sidecar gets every service. ");
        sb.Append(c, $"Each proxy has its own node id and the node metadata `skein up` gives a sidecar (INSTANCE_ID, WORKLOAD_NAME, LABELS, APP_PORTS…), subscribes as skein-proxy does (CDS wildcard, EDS by cluster names, LDS wildcard, RDS by route names) and ACKs every response (no validation, never NACKs). ");
        sb.Append(c, $"A change is a POST `/api/v1/config` of one VirtualService with new weights; the next change starts once every proxy has ACKed it and nothing was pushed for 300 ms. Latency = from sending the API call to the last ACK written by an affected proxy.\n\n");

        sb.Append("| measure | result |\n|---|---|\n");
        sb.Append(c, $"| skein-control start, config directory loaded | {StartSeconds:F1} s |\n");
        sb.Append(c, $"| register {Proxies:N0} instances | {RegisterSeconds:F1} s ({RegisterSeconds * 1000 / Proxies:F1} ms per instance; each registration rebuilds the mesh snapshot) |\n");
        sb.Append(c, $"| initial sync: all {Proxies:N0} proxies connected with CDS, EDS, LDS, RDS ACKed | **{SyncSeconds:F1} s** (per proxy: p50 {Percentile(ProxySyncSeconds, 0.5):F1} s, p99 {Percentile(ProxySyncSeconds, 0.99):F1} s) |\n");
        sb.Append(c, $"| pushed during initial sync | {sync.TotalResponses:N0} responses, {sync.TotalResources:N0} resources, {sync.TotalBytes / 1073741824.0:F2} GiB: {sync.Breakdown()} |\n");
        sb.Append(c, $"| per proxy | {PerProxy(sync)} |\n");
        sb.Append(c, $"| **config change → last affected proxy's ACK** ({Changes.Count} changes) | **p50 {Percentile(lastAcks, 0.5):F0} ms, p99 {Percentile(lastAcks, 0.99):F0} ms, max {lastAcks.LastOrDefault():F0} ms** (with {Changes.Count} samples, p99 is the largest by nearest rank) |\n");
        sb.Append(c, $"| config change → each proxy's ACK ({allAcks.Length:N0} ACKs) | p50 {Percentile(allAcks, 0.5):F0} ms, p99 {Percentile(allAcks, 0.99):F0} ms, max {allAcks.LastOrDefault():F0} ms |\n");
        sb.Append(c, $"| config API call itself (POST returns) | p50 {Percentile(api, 0.5):F0} ms, max {api.LastOrDefault():F0} ms |\n");
        if (first is not null)
        {
            sb.Append(c, $"| pushed per change | {first.Affected:N0} proxies; {first.Breakdown()} (change 1; all {Changes.Count}: {Changes.Sum(x => x.Phase.TotalResources):N0} resources, {Changes.Sum(x => x.Phase.TotalBytes) / 1048576.0:F0} MiB) |\n");
        }

        sb.Append(c, $"| proxy 0 got the new weights | {Changes.Count(x => x.Verified)} of {Changes.Count} changes |\n");
        sb.Append(c, $"| **skein-control managed heap** | live after a full GC at the end: **{Mib(heap.TotalMemory)}**; GC heap at the last GC: idle {Mib(IdleHeap!.HeapSize)}, after registration {Mib(RegisteredHeap!.HeapSize)}, after sync {Mib(SyncedHeap!.HeapSize)}, after the changes {Mib(ChangedHeap!.HeapSize)}; peak {Mib(heap.PeakHeapSize)} (committed peak {Mib(heap.PeakCommitted)}) |\n");
        sb.Append(c, $"| **skein-control RSS** (VmRSS) | idle {Kib(Idle.RssKiB)}, after registration {Kib(Registered.RssKiB)}, after sync {Kib(Synced.RssKiB)}, after the changes {Kib(Changed.RssKiB)}, after the full GC {Kib(AfterGc.RssKiB)}; **peak (VmHWM) {Kib(AfterGc.HwmKiB)}** |\n");
        sb.Append(c, $"| skein-control CPU | start {Idle.CpuSeconds:F1} s, registration {Registered.CpuSeconds - Idle.CpuSeconds:F1} s, initial sync {Synced.CpuSeconds - Registered.CpuSeconds:F1} s, {Changes.Count} changes {ChangeCpuSeconds:F1} s ({ChangeCpuSeconds / Math.Max(1, Changes.Count):F2} s each); total {Changed.CpuSeconds:F1} s |\n");
        sb.Append(c, $"| skein-control GC | {heap.Gen0:N0} gen0, {heap.Gen1:N0} gen1, {heap.Gen2:N0} gen2 collections (2 forced at the end), {heap.PauseMs / 1000:F1} s paused, {heap.Allocated / 1073741824.0:F1} GiB allocated |\n");
        sb.Append(c, $"| skein-control's own counters (`/metrics`) | {MetricsSummary()} |\n");
        sb.Append(c, $"| benchmark process (fake proxies, same machine) | CPU {Bench.CpuSeconds:F1} s, peak RSS {Kib(Bench.HwmKiB)} |\n\n");

        sb.Append("| change | VirtualService | weights v1/v2 | API call ms | last ACK ms | median proxy ACK ms | proxies pushed | pushed |\n");
        sb.Append("|---|---|---|---|---|---|---|---|\n");
        foreach (var x in Changes)
        {
            sb.Append(c, $"| {x.Number} | {x.Host} | {x.V1}/{x.V2} | {x.ApiMs:F0} | {x.LastAckMs:F0} | {Percentile(x.PerProxyMs, 0.5):F0} | {x.Phase.Affected:N0} | {x.Phase.Breakdown()} |\n");
        }

        sb.Append('\n');
        sb.Append("Managed heap is read inside skein-control by a startup hook the benchmark loads with `DOTNET_STARTUP_HOOKS` (bench/ControlPlaneScale/StartupHook.cs; skein-control is unchanged); RSS and CPU from `/proc/<pid>/status` and `/proc/<pid>/stat`. ");
        sb.Append("The fake proxies and skein-control share the machine's cores, so the latencies include the benchmark's own work.\n");
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
        syncP50 = Percentile(ProxySyncSeconds, 0.5),
        syncP99 = Percentile(ProxySyncSeconds, 0.99),
        syncResources = SyncPhase?.TotalResources,
        syncBytes = SyncPhase?.TotalBytes,
        changes = Changes.Select(x => new { x.Number, x.Host, x.V1, x.V2, x.Version, x.ApiMs, x.LastAckMs, medianMs = Percentile(x.PerProxyMs, 0.5), affected = x.Phase.Affected, resources = x.Phase.TotalResources, bytes = x.Phase.TotalBytes, x.Verified }),
        rss = new { Idle, Registered, Synced, Changed, AfterGc },
        heap = new { IdleHeap, RegisteredHeap, SyncedHeap, ChangedHeap, LiveHeap },
        bench = Bench,
    }, JsonOptions);

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

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
