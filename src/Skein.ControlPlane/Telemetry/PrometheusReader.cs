using System.Globalization;
using System.Text.Json;

namespace Skein.ControlPlane.Telemetry;

/// <summary>
/// Reads Istio's metrics from a Prometheus server's HTTP API (<c>--prometheus-url</c>) instead of scraping:
/// four PromQL queries (requests by status, duration buckets by <c>le</c>, TCP bytes each way), each
/// <c>sum by</c> the flow labels of <c>rate(...[window])</c>, through <c>/api/v1/query</c> or
/// <c>/api/v1/query_range</c>. The answers become the same per-flow rates the embedded window gives.
/// </summary>
internal sealed class PrometheusReader : ITelemetryReader, IDisposable
{
    private readonly HttpClient _http;
    private readonly TimeProvider _time;

    public PrometheusReader(Uri baseUrl, TimeProvider time, HttpMessageHandler? handler = null)
    {
        _time = time;
        _http = new HttpClient(handler ?? new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(3) })
        {
            BaseAddress = new Uri(baseUrl.ToString().TrimEnd('/') + "/"),
            Timeout = TimeSpan.FromSeconds(15),
        };
    }

    public string Source => _http.BaseAddress!.ToString();

    public async Task<Dictionary<FlowKey, FlowAggregate>?> RatesAsync(TimeSpan window, FlowFilter? filter, CancellationToken cancel)
    {
        var now = _time.GetUtcNow();
        var parts = await Task.WhenAll(Queries(window, filter).Select(q => QueryAsync("api/v1/query", $"query={Uri.EscapeDataString(q.PromQl)}&time={Unix(now)}", cancel))).ConfigureAwait(false);
        var rates = new Dictionary<FlowKey, FlowAggregate>();
        var kinds = Queries(window, filter).Select(q => q.Kind).ToArray();
        for (var i = 0; i < parts.Length; i++)
        {
            foreach (var item in parts[i].RootElement.GetProperty("data").GetProperty("result").EnumerateArray())
            {
                if (item.TryGetProperty("value", out var value))
                {
                    Accumulate(rates, kinds[i], item.GetProperty("metric"), value);
                }
            }

            parts[i].Dispose();
        }

        return rates;
    }

    public async Task<IReadOnlyList<RatePoint>> RangeAsync(TimeSpan range, TimeSpan step, TimeSpan window, FlowFilter? filter, CancellationToken cancel)
    {
        var end = _time.GetUtcNow();
        var start = end - range;
        var stepSeconds = Math.Max(1, step.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        var queries = Queries(window, filter);
        var parts = await Task.WhenAll(queries.Select(q => QueryAsync(
            "api/v1/query_range",
            $"query={Uri.EscapeDataString(q.PromQl)}&start={Unix(start)}&end={Unix(end)}&step={stepSeconds}",
            cancel))).ConfigureAwait(false);
        var points = new SortedDictionary<double, Dictionary<FlowKey, FlowAggregate>>();
        for (var i = 0; i < parts.Length; i++)
        {
            foreach (var item in parts[i].RootElement.GetProperty("data").GetProperty("result").EnumerateArray())
            {
                var metric = item.GetProperty("metric");
                foreach (var value in item.GetProperty("values").EnumerateArray())
                {
                    var t = value[0].GetDouble();
                    if (!points.TryGetValue(t, out var rates))
                    {
                        rates = [];
                        points[t] = rates;
                    }

                    Accumulate(rates, queries[i].Kind, metric, value);
                }
            }

            parts[i].Dispose();
        }

        return [.. points.Select(p => new RatePoint(DateTimeOffset.FromUnixTimeMilliseconds((long)(p.Key * 1000)), p.Value))];
    }

    public void Dispose() => _http.Dispose();

    private static (string Kind, string PromQl)[] Queries(TimeSpan window, FlowFilter? filter)
    {
        var w = $"{Math.Max(1, (int)Math.Round(window.TotalSeconds))}s";
        var selector = filter?.PromQl() is { Length: > 0 } s ? "{" + s + "}" : "";
        return
        [
            ("requests", $"sum by ({FlowKey.Labels}, response_code, grpc_response_status) (rate({TargetCounters.Requests}{selector}[{w}]))"),
            ("bucket", $"sum by ({FlowKey.Labels}, le) (rate({TargetCounters.DurationBucket}{selector}[{w}]))"),
            ("sent", $"sum by ({FlowKey.Labels}) (rate({TargetCounters.TcpSent}{selector}[{w}]))"),
            ("received", $"sum by ({FlowKey.Labels}) (rate({TargetCounters.TcpReceived}{selector}[{w}]))"),
        ];
    }

    private static void Accumulate(Dictionary<FlowKey, FlowAggregate> rates, string kind, JsonElement metric, JsonElement sample)
    {
        var labels = metric.EnumerateObject().Select(p => new KeyValuePair<string, string>(p.Name, p.Value.GetString() ?? "")).ToList();
        if (FlowKey.FromLabels(labels) is not { } flow
            || !PrometheusText.TryParseValue(sample[1].GetString(), out var value)
            || !double.IsFinite(value))
        {
            return;
        }

        if (!rates.TryGetValue(flow, out var agg))
        {
            agg = new FlowAggregate();
            rates[flow] = agg;
        }

        string? Label(string name) => metric.TryGetProperty(name, out var v) ? v.GetString() : null;
        switch (kind)
        {
            case "requests":
                agg.Requests += value;
                if (TargetCounters.IsFailure(Label("response_code"), Label("grpc_response_status")))
                {
                    agg.Errors += value;
                }

                break;
            case "bucket":
                if (PrometheusText.TryParseValue(Label("le"), out var le))
                {
                    agg.Buckets.Add(le, value);
                }

                break;
            case "sent":
                agg.TcpSent += value;
                break;
            default:
                agg.TcpReceived += value;
                break;
        }
    }

    private async Task<JsonDocument> QueryAsync(string path, string query, CancellationToken cancel)
    {
        using var response = await _http.GetAsync($"{path}?{query}", cancel).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            throw new HttpRequestException($"Prometheus at {_http.BaseAddress} answered {(int)response.StatusCode} with no JSON");
        }

        if (doc.RootElement.TryGetProperty("status", out var status) && status.GetString() == "success")
        {
            return doc;
        }

        var error = doc.RootElement.TryGetProperty("error", out var e) ? e.GetString() : body;
        doc.Dispose();
        throw new HttpRequestException($"Prometheus at {_http.BaseAddress} refused the query: {error}");
    }

    private static string Unix(DateTimeOffset t) => (t.ToUnixTimeMilliseconds() / 1000.0).ToString("0.###", CultureInfo.InvariantCulture);
}
