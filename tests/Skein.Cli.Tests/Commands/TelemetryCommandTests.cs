using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Skein.Cli.Tests.Commands;

/// <summary>
/// `skein stat`, `trace`, `dashboard`, `tap` and `top` as a user runs them, against a fake skein-control API and a
/// fake sidecar admin endpoint on loopback serving recorded answers.
/// </summary>
public sealed class TelemetryCommandTests : IDisposable
{
    private const string WorkloadStat = """
        {"kind": "workload", "source": "embedded", "windowSeconds": 60, "rows": [
          {"kind": "workload", "name": "catalog", "namespace": "default", "traffic": false, "rps": 0, "successRate": null, "p50": null, "p95": null, "p99": null, "tcpBytesPerSecond": 0},
          {"kind": "workload", "name": "reviews-v2", "namespace": "default", "traffic": true, "rps": 12.3456, "successRate": 0.9812, "p50": 4.5, "p95": 23.75, "p99": 180.2, "tcpBytesPerSecond": 2048}
        ]}
        """;

    private const string Traces = """{"kept": 1, "traces": [{"traceId": "5b8efff798038103d269b633813fc60c", "rootName": "frontend:9080/*", "rootService": "frontend", "start": "2025-01-01T10:00:00.000Z", "durationMs": 40, "spanCount": 3, "services": ["frontend", "ratings", "reviews-v2"], "error": true}]}""";

    private const string Trace = """
        {"trace": {"traceId": "5b8efff798038103d269b633813fc60c", "rootName": "frontend:9080/*", "rootService": "frontend", "start": "2025-01-01T10:00:00.000Z", "durationMs": 40, "spanCount": 3, "services": ["frontend", "ratings", "reviews-v2"], "error": true},
         "spans": [
          {"spanId": "a1", "parentSpanId": "", "depth": 0, "orphan": false, "name": "frontend:9080/*", "service": "frontend", "kind": "server", "offsetMs": 0, "durationMs": 40, "status": "unset", "error": false, "attributes": {"http.status_code": "200"}},
          {"spanId": "b1", "parentSpanId": "a1", "depth": 1, "orphan": false, "name": "reviews:9080/*", "service": "reviews-v2", "kind": "server", "offsetMs": 6, "durationMs": 28, "status": "unset", "error": false, "attributes": {}},
          {"spanId": "c1", "parentSpanId": "b1", "depth": 2, "orphan": false, "name": "ratings:9080/*", "service": "ratings", "kind": "server", "offsetMs": 12, "durationMs": 16, "status": "error", "error": true, "attributes": {"http.status_code": "503"}}
        ]}
        """;

    private static readonly string[] TapLines =
    [
        """{"start_time":"2025-01-01T10:00:00.000Z","method":"GET","path":"/reviews/1?n=1","protocol":"HTTP/1.1","response_code":200,"response_flags":"-","duration":7,"authority":"reviews:9080","reporter":"destination","source_workload":"frontend","destination_workload":"reviews-v2","destination_service":"reviews.default.svc.cluster.local","grpc_status":null}""",
        """{"start_time":"2025-01-01T10:00:00.100Z","method":"GET","path":"/reviews/1?n=2","protocol":"HTTP/1.1","response_code":503,"response_flags":"-","duration":2,"authority":"reviews:9080","reporter":"destination","source_workload":"frontend","destination_workload":"reviews-v2","destination_service":"reviews.default.svc.cluster.local","grpc_status":null}""",
        """{"start_time":"2025-01-01T10:00:00.200Z","method":"POST","path":"/bookstore.Ratings/Get","protocol":"HTTP/2","response_code":200,"response_flags":"FI","duration":1,"authority":"ratings:9080","reporter":"source","source_workload":"reviews-v2","destination_workload":"unknown","destination_service":"ratings.default.svc.cluster.local","grpc_status":14}""",
    ];

    private readonly FakeHttp _api;
    private readonly FakeHttp _admin;
    private readonly string _runDir = Path.Combine(Path.GetTempPath(), $"skein-cli-tap-{Guid.NewGuid():N}");
    private string? _lastTapQuery;

    public TelemetryCommandTests()
    {
        _api = new FakeHttp(path => path switch
        {
            _ when path.StartsWith("/api/v1/telemetry/stat?kind=workload", StringComparison.Ordinal) => (200, WorkloadStat),
            _ when path.StartsWith("/api/v1/telemetry/stat?kind=pod", StringComparison.Ordinal) => (400, """{"error": "kind must be workload or service"}"""),
            "/api/v1/telemetry/info" => (200, """{"source": "embedded", "dashboardUrl": "http://127.0.0.1:20001/", "otlpUrl": null}"""),
            _ when path.StartsWith("/api/v1/traces?", StringComparison.Ordinal) => (200, Traces),
            "/api/v1/traces/5b8efff798038103d269b633813fc60c" => (200, Trace),
            _ => (404, """{"error": "no such thing"}"""),
        });
        _admin = new FakeHttp(path =>
        {
            _lastTapQuery = path;
            return path.StartsWith("/tap", StringComparison.Ordinal) ? (200, string.Join("\n", TapLines) + "\n") : (404, "not found");
        });
        Directory.CreateDirectory(_runDir);
        File.WriteAllText(Path.Combine(_runDir, "state.json"), $$$"""
            {"version": 1, "mode": "loopback", "pods": [
              {"name": "reviews-v2-0", "workload": "reviews-v2", "namespace": "default", "state": "running", "address": "127.0.0.1",
               "ports": {"outbound": 21001, "inbound": 21006, "admin": {{{_admin.Port}}}, "stats": 21009, "health": 21002}}
            ]}
            """);
    }

    public void Dispose()
    {
        _api.Dispose();
        _admin.Dispose();
        Directory.Delete(_runDir, recursive: true);
    }

    [Fact]
    public void Stat_Workloads_LinkerdStyleTable()
    {
        var (code, stdout, stderr) = CliRunner.Run("stat", "--control-plane", _api.Url);

        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToList();
        Assert.Matches(@"^NAME\s+SUCCESS\s+RPS\s+LATENCY_P50\s+LATENCY_P95\s+LATENCY_P99\s+TCP$", lines[0]);
        Assert.Matches(@"^catalog\s+-\s+-\s+-\s+-\s+-\s+-$", lines[1]);
        Assert.Matches(@"^reviews-v2\s+98\.12%\s+12\.3rps\s+4\.5ms\s+23\.8ms\s+180ms\s+2\.0kB/s$", lines[2]);
    }

    [Fact]
    public void Stat_Json_TheApiDocument()
    {
        var (code, stdout, _) = CliRunner.Run("stat", "workload", "-o", "json", "--control-plane", _api.Url);

        Assert.Equal(0, code);
        Assert.Contains("\"successRate\": 0.9812", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Stat_UnknownKind_UsageError()
    {
        var (code, _, stderr) = CliRunner.Run("stat", "pods2", "--control-plane", _api.Url);

        Assert.Equal(64, code);
        Assert.Contains("\"pods2\" is not workload or service", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Trace_Recent_IndentedTreeWithDurations()
    {
        var (code, stdout, stderr) = CliRunner.Run("trace", "--control-plane", _api.Url);

        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToList();
        Assert.StartsWith("trace 5b8efff798038103d269b633813fc60c  40ms  3 spans  frontend, ratings, reviews-v2", lines[0], StringComparison.Ordinal);
        Assert.Equal("  frontend frontend:9080/*  server  +0ms  40ms 200", lines[1]);
        Assert.Equal("     └─ reviews-v2 reviews:9080/*  server  +6ms  28ms", lines[2]);
        Assert.Equal("        └─ ratings ratings:9080/*  server  +12ms  16ms 503 error", lines[3]);
    }

    [Fact]
    public void Trace_UnknownId_ErrorFromTheApi()
    {
        var (code, _, stderr) = CliRunner.Run("trace", "ffff", "--control-plane", _api.Url);

        Assert.Equal(1, code);
        Assert.Contains("404 no such thing", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Dashboard_PrintsTheUrl()
    {
        var (code, stdout, _) = CliRunner.Run("dashboard", "--no-open", "--control-plane", _api.Url);

        Assert.Equal(0, code);
        Assert.Equal("http://127.0.0.1:20001/", stdout.Trim());
    }

    [Fact]
    public void Tap_LoopbackPod_OneLinePerRequestWithFiltersPassedOn()
    {
        var (code, stdout, stderr) = CliRunner.Run("tap", "reviews-v2", "--run-dir", _runDir, "--path", "/reviews", "--method", "get", "--max", "3");

        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("TIME", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"\bin\s+GET\s+reviews:9080\s+/reviews/1\?n=1\s+200\s+7ms\s+-\s+frontend → reviews-v2$", lines[1]);
        Assert.Matches(@"\s503\s+2ms\s", lines[2]);
        Assert.Matches(@"\bout\s+POST\s+ratings:9080\s+/bookstore.Ratings/Get\s+200/14\s+1ms\s+FI\s+reviews-v2 → ratings.default.svc.cluster.local$", lines[3]);
        Assert.Equal("/tap?path=%2Freviews&method=GET", _lastTapQuery);
    }

    [Fact]
    public void Tap_NoSuchWorkload_NamesTheOnesThereAre()
    {
        var (code, _, stderr) = CliRunner.Run("tap", "nothing", "--run-dir", _runDir);

        Assert.Equal(64, code);
        Assert.Contains("no workload or pod nothing; workloads: reviews-v2", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Top_Duration_BusiestPathsWithLatencyAndSuccess()
    {
        var (code, stdout, stderr) = CliRunner.Run("top", "reviews-v2", "--run-dir", _runDir, "--duration", "3s");

        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToList();
        Assert.Matches(@"^SOURCE\s+DESTINATION\s+METHOD\s+PATH\s+COUNT\s+BEST\s+WORST\s+LAST\s+SUCCESS$", lines[0]);
        Assert.Matches(@"^frontend\s+reviews-v2\s+GET\s+/reviews/1\s+2\s+2ms\s+7ms\s+2ms\s+50\.00%$", lines[1]);
        Assert.Matches(@"^reviews-v2\s+ratings:9080\s+POST\s+/bookstore.Ratings/Get\s+1\s+1ms\s+1ms\s+1ms\s+0\.00%$", lines[2]);
    }

    /// <summary>A loopback HTTP server answering each path with a status and a body.</summary>
    private sealed class FakeHttp : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Func<string, (int Status, string Body)> _answer;

        public FakeHttp(Func<string, (int Status, string Body)> answer)
        {
            _answer = answer;
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            _listener.Start();
            _ = Task.Run(LoopAsync);
        }

        public int Port { get; }

        public string Url => $"http://127.0.0.1:{Port}";

        public void Dispose() => _listener.Close();

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                var (status, body) = _answer(context.Request.RawUrl ?? "/");
                var bytes = Encoding.UTF8.GetBytes(body);
                context.Response.StatusCode = status;
                context.Response.ContentType = body.StartsWith('{') ? "application/json" : "application/x-ndjson";
                context.Response.ContentLength64 = bytes.Length;
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
        }
    }
}
