using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Skein.EndToEnd.Tests;

/// <summary>
/// Issue 7's acceptance on the real netns runtime: Istio's standard metrics read by a real Prometheus, a trace across
/// three hops from skein-control's OTLP receiver, the dashboard in a real browser, and `skein stat`.
/// Every test puts the mesh back as it found it.
/// </summary>
[Collection("mesh")]
public sealed partial class ObservabilityTests(MeshFixture mesh, ITestOutputHelper output)
{
    private static readonly string[] SampleWorkloads = ["frontend", "catalog", "reviews-v1", "reviews-v2", "reviews-v3", "ratings"];

    /// <summary>Every call path of the sample, as topology edges: caller → service, service → workload behind it.</summary>
    private static readonly (string From, string To)[] CallPaths =
    [
        ("workload:default/client", "service:default/frontend"),
        ("service:default/frontend", "workload:default/frontend"),
        ("workload:default/frontend", "service:default/catalog"),
        ("service:default/catalog", "workload:default/catalog"),
        ("workload:default/frontend", "service:default/reviews"),
        ("service:default/reviews", "workload:default/reviews-v1"),
        ("service:default/reviews", "workload:default/reviews-v2"),
        ("service:default/reviews", "workload:default/reviews-v3"),
        ("workload:default/reviews-v2", "service:default/ratings"),
        ("workload:default/reviews-v3", "service:default/ratings"),
        ("service:default/ratings", "workload:default/ratings"),
    ];

    [MeshFact]
    public async Task Prometheus_ScrapesSidecars_P99PerWorkloadAndRequestCountsWithin1Percent()
    {
        var pods = Pods().Where(p => p.Address.Length > 0).ToList();
        var dir = Directory.CreateTempSubdirectory("skein-prometheus-");
        var port = FreePort();
        var config = Path.Combine(dir.FullName, "prometheus.yml");
        File.WriteAllText(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: sidecars
                metrics_path: /stats/prometheus
                static_configs:
                  - targets: [{string.Join(", ", pods.Select(p => $"'{p.Address}:15090'"))}]
            """);
        using var prometheus = Process.Start(new ProcessStartInfo("/usr/bin/prometheus")
        {
            ArgumentList = { $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(dir.FullName, "data")}", $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn" },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        var prometheusLog = new System.Collections.Concurrent.ConcurrentQueue<string>();
        prometheus.ErrorDataReceived += (_, e) => { if (e.Data is not null) { prometheusLog.Enqueue(e.Data); } };
        prometheus.BeginErrorReadLine();
        prometheus.BeginOutputReadLine();
        try
        {
            using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await Until(
                TimeSpan.FromSeconds(60),
                async () => (await Query(http, "sum(up)")).Select(v => v.Value).SingleOrDefault() == pods.Count,
                () => $"every sidecar scraped (up == 1); prometheus {(prometheus.HasExited ? $"exited with {prometheus.ExitCode}" : "runs")}: {string.Join("\n", prometheusLog.TakeLast(10))}");
            const string ToFrontend = "sum(istio_requests_total{reporter=\"destination\",source_workload=\"client\",destination_workload=\"frontend\"})";
            const string FromClient = "sum(istio_requests_total{reporter=\"source\",source_workload=\"client\"})";
            var beforeIn = (await Query(http, ToFrontend)).Select(v => v.Value).SingleOrDefault();
            var beforeOut = (await Query(http, FromClient)).Select(v => v.Value).SingleOrDefault();

            const int Calls = 300;
            var codes = mesh.Exec($"curl -s -o /dev/null -w '%{{http_code}}\\n' 'http://frontend:9080/?n=[1-{Calls}]'", 300).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(Calls, codes.Length);

            var inbound = 0.0;
            var outbound = 0.0;
            await Until(TimeSpan.FromSeconds(30), async () =>
            {
                inbound = (await Query(http, ToFrontend)).Select(v => v.Value).SingleOrDefault() - beforeIn;
                outbound = (await Query(http, FromClient)).Select(v => v.Value).SingleOrDefault() - beforeOut;
                return Math.Abs(inbound - Calls) <= Calls * 0.01 && Math.Abs(outbound - Calls) <= Calls * 0.01;
            }, "istio_requests_total to count the calls");
            output.WriteLine($"calls {Calls}: frontend's sidecar counted {inbound}, the client's {outbound}");

            var p99 = await Query(http, "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter=\"destination\"}[1m])) by (le, destination_workload))");
            foreach (var workload in SampleWorkloads)
            {
                var value = p99.Where(v => v.Labels.GetValueOrDefault("destination_workload") == workload).Select(v => v.Value).DefaultIfEmpty(double.NaN).Single();
                output.WriteLine($"p99 {workload}: {value} ms");
                Assert.True(double.IsFinite(value) && value > 0, $"no p99 for {workload}: {string.Join(", ", p99.Select(v => $"{v.Labels.GetValueOrDefault("destination_workload")}={v.Value}"))}");
            }
        }
        finally
        {
            prometheus.Kill(entireProcessTree: true);
            await prometheus.WaitForExitAsync();
            dir.Delete(recursive: true);
        }
    }

    [MeshFact]
    public async Task Trace_FrontendReviewsV2Ratings_ParentChildSpansAcrossAllHops()
    {
        using var api = ControlPlane();
        string? traceId = null;
        for (var attempt = 0; attempt < 30 && traceId is null; attempt++)
        {
            // A sampled parent from the caller: every sidecar on the way records the request whatever its sampling rate.
            var id = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
            var parent = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray())[..16];
            var body = mesh.Exec($"curl -s -H 'traceparent: 00-{id}-{parent}-01' http://frontend:9080/api/product/1").Stdout;
            if (body.Contains("\"version\":\"v2\"", StringComparison.Ordinal))
            {
                traceId = id;
            }
        }

        Assert.NotNull(traceId);
        JsonElement[] spans = [];
        await Until(TimeSpan.FromSeconds(45), async () =>
        {
            var response = await api.GetAsync($"/api/v1/traces/{traceId}");
            if (!response.IsSuccessStatusCode)
            {
                return false;
            }

            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            spans = [.. doc.RootElement.GetProperty("spans").EnumerateArray().Select(s => s.Clone())];
            // Each sidecar exports its spans in its own batches: wait for the whole chain from ratings up to the frontend.
            return spans.Any(s => Is(s, "ratings", "server")) && ChainLength(spans, spans.First(s => Is(s, "ratings", "server"))) >= 5;
        }, $"trace {traceId} to hold every hop from the frontend to ratings");
        foreach (var s in spans)
        {
            output.WriteLine($"{new string(' ', s.GetProperty("depth").GetInt32() * 2)}{s.GetProperty("service")} {s.GetProperty("kind")} {s.GetProperty("name")} {s.GetProperty("durationMs")}ms");
        }

        var byId = spans.ToDictionary(s => s.GetProperty("spanId").GetString()!);
        JsonElement Parent(JsonElement s) => byId.TryGetValue(s.GetProperty("parentSpanId").GetString()!, out var p)
            ? p
            : throw new Xunit.Sdk.XunitException($"span {s.GetProperty("spanId")} ({s.GetProperty("service")} {s.GetProperty("kind")}) has no parent in the trace");

        var ratingsServer = spans.Single(s => Is(s, "ratings", "server"));
        var reviewsClient = Parent(ratingsServer);
        var reviewsServer = Parent(reviewsClient);
        var frontendClient = Parent(reviewsServer);
        var frontendServer = Parent(frontendClient);
        Assert.True(Is(reviewsClient, "reviews", "client"), "ratings' server span is a child of reviews-v2's client span");
        Assert.True(Is(reviewsServer, "reviews", "server"), "reviews-v2's client span is a child of its server span");
        Assert.True(Is(frontendClient, "frontend", "client"), "reviews-v2's server span is a child of frontend's client span");
        Assert.True(Is(frontendServer, "frontend", "server"), "frontend's client span is a child of its server span");
        Assert.Contains("v2", reviewsServer.GetProperty("service").GetString() + reviewsServer.GetProperty("attributes").ToString(), StringComparison.Ordinal);
    }

    [MeshFact]
    public async Task Dashboard_InChromium_TopologyWithEveryWorkloadAndCallPathAndTheAbortShowsOnItsEdge()
    {
        using var api = ControlPlane();
        using var info = JsonDocument.Parse(await api.GetStringAsync("/api/v1/telemetry/info"));
        var url = info.RootElement.GetProperty("dashboardUrl").GetString()!;
        var shots = Directory.CreateDirectory(Path.Combine(SkeinCli.RepoRoot, "tests", "Skein.EndToEnd.Tests", "TestResults", "dashboard")).FullName;
        using var traffic = Traffic(TimeSpan.FromMinutes(4));
        await Until(TimeSpan.FromSeconds(60), async () =>
        {
            using var graph = JsonDocument.Parse(await api.GetStringAsync("/api/v1/telemetry/edges"));
            var edges = graph.RootElement.GetProperty("edges").EnumerateArray().ToList();
            return CallPaths.All(p => edges.Any(e => e.GetProperty("source").GetString() == p.From && e.GetProperty("target").GetString() == p.To && e.GetProperty("rps").GetDouble() > 0));
        }, "traffic on every call path");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = "/usr/bin/chromium", Headless = true });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1600, Height = 1000 } });
        await page.GotoAsync(url);
        await page.WaitForSelectorAsync("svg[data-testid=topology] g.edge[data-rps]");
        foreach (var workload in SampleWorkloads.Append("client"))
        {
            Assert.Equal(1, await page.Locator($"g.node[data-kind=workload][data-name='{workload}']").CountAsync());
        }

        foreach (var (from, to) in CallPaths)
        {
            var rps = await page.Locator($"g.edge[data-source='{from}'][data-target='{to}']").GetAttributeAsync("data-rps");
            Assert.True(double.TryParse(rps, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) && r > 0, $"edge {from} → {to} shows {rps ?? "nothing"} rps");
        }

        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "topology.png"), FullPage = true });
        var edge = page.Locator("g.edge[data-source='workload:default/reviews-v2'][data-target='service:default/ratings']");
        Assert.Equal("ok", await edge.GetAttributeAsync("data-health"));

        var abort = mesh.Skein("apply", "-f", "samples/mesh/fault-abort");
        Assert.True(abort.ExitCode == 0, abort.ToString());
        try
        {
            await Until(TimeSpan.FromSeconds(90), async () => await edge.GetAttributeAsync("data-health") == "bad", "the reviews-v2 → ratings edge to turn red");
            var label = await edge.Locator("text").TextContentAsync();
            output.WriteLine($"reviews-v2 → ratings after the abort: {label}");
            Assert.Matches(@"rps · \d+(\.\d)?% · p99", label);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "topology-abort.png"), FullPage = true });

            await page.GotoAsync(url + "#/service/default/ratings");
            await page.WaitForSelectorAsync("[data-chart] path.series");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "service-ratings.png"), FullPage = true });
            await page.GotoAsync(url + "#/config");
            await page.WaitForSelectorAsync("table[data-testid=proxies]");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "config.png"), FullPage = true });
        }
        finally
        {
            mesh.Skein("delete", "-f", "samples/mesh/fault-abort");
        }

        output.WriteLine($"screenshots in {shots}");
    }

    [MeshFact]
    public async Task Stat_ReviewsVersionsFailingAtKnownRates_SuccessWithin2Points()
    {
        var failing = new Dictionary<string, int> { ["reviews-v1-0"] = 0, ["reviews-v2-0"] = 20, ["reviews-v3-0"] = 50 };
        foreach (var (pod, percent) in failing)
        {
            SetChaos(pod, percent == 0 ? "" : $"failPercent={percent}&failStatus=500&spread=true");
        }

        try
        {
            // A quiet spell longer than two scrapes first: the window below reaches a few seconds back, and what
            // earlier tests sent must not be in it.
            await Task.Delay(TimeSpan.FromSeconds(12));
            var started = DateTime.UtcNow;
            var lines = mesh.Exec("curl -s -o /dev/null -w '%{http_code} %header{x-served-by}\\n' 'http://reviews:9080/reviews/1?n=[1-900]'", 300).Stdout;
            var driven = lines.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => ServedBy().Match(l))
                .Where(m => m.Success)
                .GroupBy(m => $"reviews-{m.Groups[2].Value}")
                .ToDictionary(g => g.Key, g => g.Count(m => m.Groups[1].Value[0] != '5') / (double)g.Count());
            output.WriteLine("driven: " + string.Join(", ", driven.Select(d => $"{d.Key} {d.Value:P1}")));
            Assert.Equal(3, driven.Count);

            await Task.Delay(TimeSpan.FromSeconds(12)); // two scrapes after the last call
            var window = (int)Math.Ceiling((DateTime.UtcNow - started).TotalSeconds) + 5;
            var stat = mesh.Skein("stat", "workload", "-o", "json", "--window", $"{window}s");
            Assert.True(stat.ExitCode == 0, stat.ToString());
            var table = mesh.Skein("stat", "--window", $"{window}s");
            output.WriteLine(table.Stdout);
            using var doc = JsonDocument.Parse(stat.Stdout);
            foreach (var (version, success) in driven)
            {
                var row = doc.RootElement.GetProperty("rows").EnumerateArray().Single(r => r.GetProperty("name").GetString() == version);
                var shown = row.GetProperty("successRate").GetDouble();
                Assert.True(Math.Abs(shown - success) <= 0.02, $"{version}: skein stat shows {shown:P2}, the test drove {success:P2}");
                var printed = Regex.Match(table.Stdout, $@"(?m)^{version}\s+(\d+\.\d\d)%");
                Assert.True(printed.Success, table.Stdout);
                Assert.InRange(double.Parse(printed.Groups[1].Value, CultureInfo.InvariantCulture) / 100, success - 0.02, success + 0.02);
            }
        }
        finally
        {
            foreach (var pod in failing.Keys)
            {
                SetChaos(pod, "");
            }
        }
    }

    /// <summary>How many spans link up from <paramref name="span"/> through parents present in the trace (itself included).</summary>
    private static int ChainLength(JsonElement[] spans, JsonElement span)
    {
        var byId = spans.ToDictionary(s => s.GetProperty("spanId").GetString()!);
        var length = 1;
        while (byId.TryGetValue(span.GetProperty("parentSpanId").GetString() ?? "", out var parent) && length < spans.Length)
        {
            span = parent;
            length++;
        }

        return length;
    }

    private static bool Is(JsonElement span, string service, string kind) =>
        span.GetProperty("kind").GetString() == kind
        && (span.GetProperty("service").GetString() ?? "").StartsWith(service, StringComparison.Ordinal);

    private HttpClient ControlPlane()
    {
        using var state = mesh.State();
        return new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(state.RootElement.GetProperty("controlApi").GetString()!) };
    }

    private List<(string Name, string Workload, string Address)> Pods()
    {
        using var state = mesh.State();
        return [.. state.RootElement.GetProperty("pods").EnumerateArray()
            .Where(p => p.GetProperty("state").GetString() == "running")
            .Where(p => p.TryGetProperty("proxy", out var proxy) && proxy.ValueKind == JsonValueKind.Object) // pods with a sidecar
            .Select(p => (p.GetProperty("name").GetString()!, p.GetProperty("workload").GetString()!, p.TryGetProperty("address", out var a) ? a.GetString() ?? "" : ""))];
    }

    /// <summary>Calls the frontend from the client pod about ten times a second until disposed (or the limit).</summary>
    private Background Traffic(TimeSpan limit)
    {
        var calls = (int)(limit.TotalSeconds * 10);
        var start = new ProcessStartInfo(Path.Combine(SkeinCli.RepoRoot, "skein"))
        {
            ArgumentList = { "exec", "client-0", "--run-dir", mesh.RunDir, "--", "sh", "-c", $"i=0; while [ $i -lt {calls} ]; do curl -s -o /dev/null -m 5 http://frontend:9080/; i=$((i+1)); sleep 0.1; done" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = SkeinCli.RepoRoot,
        };
        return new Background(Process.Start(start)!);
    }

    private void SetChaos(string pod, string query)
    {
        var result = SkeinCli.Exec(mesh.RunDir, pod, $"curl -sf -X PUT 'http://127.0.0.1:9080/chaos?{query}'", TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    private static async Task<List<(Dictionary<string, string> Labels, double Value)>> Query(HttpClient prometheus, string promQl)
    {
        using var doc = JsonDocument.Parse(await prometheus.GetStringAsync($"/api/v1/query?query={Uri.EscapeDataString(promQl)}"));
        return [.. doc.RootElement.GetProperty("data").GetProperty("result").EnumerateArray().Select(r => (
            r.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? ""),
            r.GetProperty("value")[1].GetString() is var text && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN))];
    }

    private static Task Until(TimeSpan timeout, Func<Task<bool>> condition, string what) => Until(timeout, condition, () => what);

    private static async Task Until(TimeSpan timeout, Func<Task<bool>> condition, Func<string> what)
    {
        var deadline = DateTime.UtcNow + timeout;
        Exception? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or JsonException or KeyNotFoundException or InvalidOperationException or PlaywrightException)
            {
                last = e;
            }

            await Task.Delay(1000);
        }

        throw new TimeoutException($"waited {timeout.TotalSeconds:0} s for {what()}{(last is null ? "" : $" (last error: {last.Message})")}");
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    [GeneratedRegex(@"^(\d{3}) \w+-(v\d)")]
    private static partial Regex ServedBy();

    /// <summary>A background process, killed on dispose.</summary>
    private sealed class Background(Process process) : IDisposable
    {
        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.WaitForExit();
            process.Dispose();
        }
    }
}
