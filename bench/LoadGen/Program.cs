using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;

// Open-loop load at a fixed rate: requests are scheduled on a timetable and latency is measured
// from the scheduled time, so a stalled server cannot hide its stall (no coordinated omission).
// Usage: skein-loadgen URL RATE SECONDS [CONNECTIONS] [--host HOST] [--http2]
if (args.Length < 3)
{
    Console.Error.WriteLine("usage: skein-loadgen URL RATE SECONDS [CONNECTIONS] [--host HOST] [--http2]");
    return 64;
}

var url = new Uri(args[0]);
var rate = int.Parse(args[1], CultureInfo.InvariantCulture);
var seconds = double.Parse(args[2], CultureInfo.InvariantCulture);
var connections = args.Length > 3 && !args[3].StartsWith("--", StringComparison.Ordinal) ? int.Parse(args[3], CultureInfo.InvariantCulture) : 64;
var host = Option("--host");
var http2 = args.Contains("--http2");

using var handler = new SocketsHttpHandler
{
    MaxConnectionsPerServer = connections,
    PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
    UseProxy = false,
    AutomaticDecompression = DecompressionMethods.None,
};
using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
var total = (int)(rate * seconds);
var latencies = new double[total];
var failures = 0;
var interval = Stopwatch.Frequency / (double)rate;

// Warm the pool so connection set-up is not measured as latency.
for (var i = 0; i < Math.Min(connections, 16); i++)
{
    try
    {
        using var warm = await client.SendAsync(Request()).ConfigureAwait(false);
    }
    catch (HttpRequestException)
    {
    }
}

var start = Stopwatch.GetTimestamp();
var tasks = new Task[total];
for (var i = 0; i < total; i++)
{
    var scheduled = start + (long)(i * interval);
    var wait = scheduled - Stopwatch.GetTimestamp();
    if (wait > 0)
    {
        var ms = wait * 1000 / Stopwatch.Frequency;
        if (ms > 1)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(ms - 1)).ConfigureAwait(false);
        }

        while (Stopwatch.GetTimestamp() < scheduled)
        {
            Thread.SpinWait(20);
        }
    }

    var index = i;
    tasks[i] = Task.Run(async () =>
    {
        try
        {
            using var response = await client.SendAsync(Request(), HttpCompletionOption.ResponseContentRead).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                Interlocked.Increment(ref failures);
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            Interlocked.Increment(ref failures);
        }

        latencies[index] = (Stopwatch.GetTimestamp() - scheduled) * 1000.0 / Stopwatch.Frequency;
    });
}

await Task.WhenAll(tasks).ConfigureAwait(false);
var elapsed = (Stopwatch.GetTimestamp() - start) / (double)Stopwatch.Frequency;
Array.Sort(latencies);
var result = new Dictionary<string, object>
{
    ["requests"] = total,
    ["failures"] = failures,
    ["achieved_rps"] = Math.Round(total / elapsed, 1),
    ["p50_ms"] = Percentile(0.50),
    ["p90_ms"] = Percentile(0.90),
    ["p99_ms"] = Percentile(0.99),
    ["max_ms"] = Math.Round(latencies[^1], 3),
};
Console.WriteLine(JsonSerializer.Serialize(result));
return 0;

double Percentile(double q) => Math.Round(latencies[Math.Min(latencies.Length - 1, (int)Math.Ceiling(q * latencies.Length) - 1)], 3);

HttpRequestMessage Request()
{
    var request = new HttpRequestMessage(HttpMethod.Get, url)
    {
        Version = http2 ? HttpVersion.Version20 : HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };
    if (host is not null)
    {
        request.Headers.Host = host;
    }

    return request;
}

string? Option(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
