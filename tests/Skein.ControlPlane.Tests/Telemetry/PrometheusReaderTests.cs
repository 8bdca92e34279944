using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Skein.ControlPlane.Telemetry;

namespace Skein.ControlPlane.Tests.Telemetry;

/// <summary>
/// `skein-control --prometheus-url`: the same per-flow rates, read from the real Prometheus (Debian's package)
/// that scrapes a sidecar-shaped target whose counters grow at known rates.
/// </summary>
public sealed class PrometheusReaderTests
{
    private const string Prometheus = "/usr/bin/prometheus";

    [Fact]
    public async Task RatesAsync_RealPrometheusScrapingASidecar_RequestAndErrorRatesPerFlow()
    {
        Assert.True(File.Exists(Prometheus), "needs Debian's prometheus package (scripts/prereqs.sh installs it)");
        using var target = new GrowingTarget();
        var dir = Directory.CreateTempSubdirectory("skein-prometheus-reader-");
        var port = FreePort();
        File.WriteAllText(Path.Combine(dir.FullName, "prometheus.yml"), $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: sidecar
                metrics_path: /stats/prometheus
                static_configs:
                  - targets: ['127.0.0.1:{target.Port}']
            """);
        using var prometheus = Process.Start(new ProcessStartInfo(Prometheus)
        {
            ArgumentList =
            {
                $"--config.file={Path.Combine(dir.FullName, "prometheus.yml")}",
                $"--storage.tsdb.path={Path.Combine(dir.FullName, "data")}",
                $"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        prometheus.BeginErrorReadLine();
        prometheus.BeginOutputReadLine();
        try
        {
            using var reader = new PrometheusReader(new Uri($"http://127.0.0.1:{port}"), TimeProvider.System);
            FlowAggregate? flow = null;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(1000);
                try
                {
                    var rates = await reader.RatesAsync(TimeSpan.FromSeconds(10), null, CancellationToken.None);
                    flow = rates?.FirstOrDefault(r => r.Key.SourceWorkload == "client" && r.Key.DestinationWorkload == "reviews-v1").Value;
                    if (flow is { Requests: > 0 } && clock.Elapsed > TimeSpan.FromSeconds(15))
                    {
                        break; // a whole window of samples
                    }
                }
                catch (HttpRequestException)
                {
                    // Prometheus is still starting.
                }
            }

            Assert.NotNull(flow);
            // The target's counters grow by 9 successes and 1 error (503) a second.
            Assert.InRange(flow.Requests, 8.0, 12.0);
            Assert.InRange(flow.Errors, 0.7, 1.3);
            Assert.InRange(flow.Errors / flow.Requests, 0.07, 0.13);
        }
        finally
        {
            prometheus.Kill();
            prometheus.WaitForExit(5000);
            dir.Delete(recursive: true);
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>A sidecar's /stats/prometheus whose istio_requests_total grows with time: 9 OK and 1 503 per second.</summary>
    private sealed class GrowingTarget : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly CancellationTokenSource _stop = new();

        public GrowingTarget()
        {
            _listener.Start();
            _ = ServeAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            _stop.Dispose();
        }

        private async Task ServeAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }

                using (client)
                {
                    var stream = client.GetStream();
                    var buffer = new byte[8192];
                    _ = await stream.ReadAsync(buffer);
                    var seconds = _clock.Elapsed.TotalSeconds;
                    const string Labels = "reporter=\"source\",source_workload=\"client\",source_workload_namespace=\"default\","
                        + "destination_workload=\"reviews-v1\",destination_workload_namespace=\"default\","
                        + "destination_service=\"reviews.default.svc.cluster.local\",destination_service_name=\"reviews\","
                        + "destination_service_namespace=\"default\",request_protocol=\"http\",grpc_response_status=\"\"";
                    var body = string.Create(CultureInfo.InvariantCulture, $$"""
                        # TYPE istio_requests_total counter
                        istio_requests_total{{{Labels}},response_code="200"} {{Math.Floor(seconds * 9)}}
                        istio_requests_total{{{Labels}},response_code="503"} {{Math.Floor(seconds)}}

                        """);
                    var bytes = Encoding.ASCII.GetBytes(body);
                    var head = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n\r\n");
                    await stream.WriteAsync(head);
                    await stream.WriteAsync(bytes);
                }
            }
        }
    }
}
