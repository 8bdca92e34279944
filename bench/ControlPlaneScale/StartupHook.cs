using System.Globalization;
using System.Runtime;

#pragma warning disable CA1050 // the runtime looks the startup hook up as a global-namespace type named StartupHook

/// <summary>
/// Loaded into the skein-control process by the benchmark through <c>DOTNET_STARTUP_HOOKS</c> (a standard .NET
/// mechanism; skein-control itself is unchanged), so that its managed heap can be read from outside. Does nothing
/// unless <c>SKEIN_BENCH_PROBE</c> names a file prefix. A background thread samples the GC every 100 ms (keeping
/// the peaks) and answers requests: the benchmark writes an id into <c>PREFIX.req</c>, the probe writes its
/// figures with that id to <c>PREFIX.json</c>; an id starting with "gc" first forces a full compacting collection
/// so the answer is the live heap.
/// </summary>
public static class StartupHook
{
    public static void Initialize()
    {
        var prefix = Environment.GetEnvironmentVariable("SKEIN_BENCH_PROBE");
        if (string.IsNullOrEmpty(prefix))
        {
            return;
        }

        new Thread(() => Loop(prefix)) { IsBackground = true, Name = "skein-bench-probe" }.Start();
    }

    private static void Loop(string prefix)
    {
        long peakTotal = 0, peakHeap = 0, peakCommitted = 0;
        long phaseTotal = 0, phaseHeap = 0, phaseCommitted = 0;
        var request = prefix + ".req";
        while (true)
        {
            Thread.Sleep(100);
            var total = GC.GetTotalMemory(false);
            var info = GC.GetGCMemoryInfo();
            phaseTotal = Math.Max(phaseTotal, total);
            phaseHeap = Math.Max(phaseHeap, info.HeapSizeBytes);
            phaseCommitted = Math.Max(phaseCommitted, info.TotalCommittedBytes);
            peakTotal = Math.Max(peakTotal, phaseTotal);
            peakHeap = Math.Max(peakHeap, phaseHeap);
            peakCommitted = Math.Max(peakCommitted, phaseCommitted);
            if (!File.Exists(request))
            {
                continue;
            }

            string id;
            try
            {
                id = File.ReadAllText(request).Trim();
                File.Delete(request);
            }
            catch (IOException)
            {
                continue;
            }

            if (id.StartsWith("gc", StringComparison.Ordinal))
            {
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                total = GC.GetTotalMemory(false);
                info = GC.GetGCMemoryInfo();
            }

            var json = string.Create(CultureInfo.InvariantCulture, $$"""
                {"id": "{{id}}", "totalMemory": {{total}}, "heapSize": {{info.HeapSizeBytes}}, "committed": {{info.TotalCommittedBytes}},
                 "phasePeakTotalMemory": {{phaseTotal}}, "phasePeakHeapSize": {{phaseHeap}}, "phasePeakCommitted": {{phaseCommitted}},
                 "peakTotalMemory": {{peakTotal}}, "peakHeapSize": {{peakHeap}}, "peakCommitted": {{peakCommitted}},
                 "allocated": {{GC.GetTotalAllocatedBytes()}}, "gen0": {{GC.CollectionCount(0)}}, "gen1": {{GC.CollectionCount(1)}}, "gen2": {{GC.CollectionCount(2)}},
                 "pauseMs": {{GC.GetTotalPauseDuration().TotalMilliseconds:F0}}, "serverGc": {{(GCSettings.IsServerGC ? "true" : "false")}},
                 "threads": {{ThreadPool.ThreadCount}}, "generations": [{{Generations(info)}}]}
                """);
            try
            {
                File.WriteAllText(prefix + ".tmp", json);
                File.Move(prefix + ".tmp", prefix + ".json", overwrite: true);
            }
            catch (IOException)
            {
            }

            phaseTotal = phaseHeap = phaseCommitted = 0;
        }
    }

    // Size after the last GC of gen0, gen1, gen2, the large object heap and the pinned object heap.
    private static string Generations(GCMemoryInfo info)
    {
        var sizes = new List<string>();
        foreach (var g in info.GenerationInfo)
        {
            sizes.Add(g.SizeAfterBytes.ToString(CultureInfo.InvariantCulture));
        }

        return string.Join(", ", sizes);
    }
}
