using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Skein.ControlPlane.Api;
using ApiDuration = Skein.Api.Model.Duration;

namespace Skein.ControlPlane.Telemetry;

/// <summary>The reader in use and what the mesh has (for idle rows), as the telemetry endpoints need them.</summary>
internal sealed class TelemetryService(ITelemetryReader reader, Func<MeshInventory> inventory, TelemetrySettings settings)
{
    public ITelemetryReader Reader { get; } = reader;

    public TelemetrySettings Settings { get; } = settings;

    public MeshInventory Inventory() => inventory();
}

/// <summary>How telemetry was set up, for <c>/api/v1/telemetry/info</c> and the CLI.</summary>
internal sealed record TelemetrySettings(TimeSpan ScrapeInterval, TimeSpan Retention)
{
    public string? DashboardUrl { get; set; }

    public string? OtlpUrl { get; set; }
}

/// <summary>
/// What <c>skein stat</c> and the dashboard read (all GET, JSON; numbers are per second and milliseconds):
/// <list type="bullet">
///   <item><c>/api/v1/telemetry/stat?kind=workload|service&amp;window=1m[&amp;name=&amp;namespace=]</c>: a row per
///         workload (its inbound traffic) or service (as callers saw it): rps, successRate (0..1), p50/p95/p99, tcp.</item>
///   <item><c>/api/v1/telemetry/edges?window=1m</c>: the topology: nodes (workloads, services) and edges (caller
///         workload → service → workload) with the same numbers.</item>
///   <item><c>/api/v1/telemetry/series?workload=NAME|service=NAME[&amp;namespace=]&amp;range=15m&amp;step=15s&amp;window=1m</c>:
///         points over time for charts.</item>
///   <item><c>/api/v1/telemetry/info</c>: the source (embedded or a Prometheus URL), scrape interval, retention,
///         the dashboard's and the OTLP receiver's URLs.</item>
/// </list>
/// </summary>
internal static class TelemetryApi
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/telemetry/info", (TelemetryService telemetry) => ApiJson.Write(200, w =>
        {
            w.WriteStartObject();
            w.WriteString("source", telemetry.Reader.Source);
            w.WriteNumber("scrapeIntervalSeconds", telemetry.Settings.ScrapeInterval.TotalSeconds);
            w.WriteNumber("retentionSeconds", telemetry.Settings.Retention.TotalSeconds);
            WriteOrNull(w, "dashboardUrl", telemetry.Settings.DashboardUrl);
            WriteOrNull(w, "otlpUrl", telemetry.Settings.OtlpUrl);
            w.WriteEndObject();
        }));

        app.MapGet("/api/v1/telemetry/stat", async (HttpRequest request, TelemetryService telemetry) =>
        {
            var kind = request.Query["kind"].ToString() switch
            {
                "" or "workload" or "workloads" or "deploy" => "workload",
                "service" or "services" or "svc" => "service",
                var other => null,
            };
            if (kind is null)
            {
                return ApiJson.Error(StatusCodes.Status400BadRequest, "kind must be workload or service");
            }

            if (!TryDuration(request, "window", TimeSpan.FromMinutes(1), out var window, out var error))
            {
                return error;
            }

            var rates = await ReadAsync(() => telemetry.Reader.RatesAsync(window, null, request.HttpContext.RequestAborted));
            if (rates.Error is { } failed)
            {
                return failed;
            }

            var rows = kind == "workload" ? TelemetryViews.Workloads(rates.Value, telemetry.Inventory()) : TelemetryViews.Services(rates.Value, telemetry.Inventory());
            var name = request.Query["name"].ToString();
            var ns = request.Query["namespace"].ToString();
            return ApiJson.Write(200, w =>
            {
                w.WriteStartObject();
                w.WriteString("kind", kind);
                w.WriteString("source", telemetry.Reader.Source);
                w.WriteNumber("windowSeconds", window.TotalSeconds);
                w.WriteStartArray("rows");
                foreach (var row in rows.Where(r => (name.Length == 0 || r.Name == name) && (ns.Length == 0 || r.Namespace == ns)))
                {
                    w.WriteStartObject();
                    w.WriteString("kind", row.Kind);
                    w.WriteString("name", row.Name);
                    w.WriteString("namespace", row.Namespace);
                    WriteStats(w, row.Stats);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            });
        });

        app.MapGet("/api/v1/telemetry/edges", async (HttpRequest request, TelemetryService telemetry) =>
        {
            if (!TryDuration(request, "window", TimeSpan.FromMinutes(1), out var window, out var error))
            {
                return error;
            }

            var rates = await ReadAsync(() => telemetry.Reader.RatesAsync(window, null, request.HttpContext.RequestAborted));
            if (rates.Error is { } failed)
            {
                return failed;
            }

            var graph = TelemetryViews.BuildGraph(rates.Value, telemetry.Inventory());
            return ApiJson.Write(200, w =>
            {
                w.WriteStartObject();
                w.WriteString("source", telemetry.Reader.Source);
                w.WriteNumber("windowSeconds", window.TotalSeconds);
                w.WriteStartArray("nodes");
                foreach (var node in graph.Nodes)
                {
                    w.WriteStartObject();
                    w.WriteString("id", node.Id);
                    w.WriteString("kind", node.Kind);
                    w.WriteString("name", node.Name);
                    w.WriteString("namespace", node.Namespace);
                    WriteStats(w, node.Stats);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteStartArray("edges");
                foreach (var edge in graph.Edges)
                {
                    w.WriteStartObject();
                    w.WriteString("source", edge.Source);
                    w.WriteString("target", edge.Target);
                    WriteStats(w, edge.Stats);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            });
        });

        app.MapGet("/api/v1/telemetry/series", async (HttpRequest request, TelemetryService telemetry) =>
        {
            var workload = request.Query["workload"].ToString();
            var service = request.Query["service"].ToString();
            if ((workload.Length == 0) == (service.Length == 0))
            {
                return ApiJson.Error(StatusCodes.Status400BadRequest, "give one of workload= or service=");
            }

            var ns = request.Query["namespace"].ToString() is { Length: > 0 } given ? given : "default";
            if (!TryDuration(request, "range", TimeSpan.FromMinutes(15), out var range, out var error)
                || !TryDuration(request, "step", TimeSpan.FromSeconds(15), out var step, out error)
                || !TryDuration(request, "window", TimeSpan.FromMinutes(1), out var window, out error))
            {
                return error;
            }

            if (step < TimeSpan.FromSeconds(1) || range / step > 1000)
            {
                return ApiJson.Error(StatusCodes.Status400BadRequest, "step must be at least 1s and give at most 1000 points over the range");
            }

            var kind = workload.Length > 0 ? "workload" : "service";
            var name = workload.Length > 0 ? workload : service;
            var filter = kind == "workload"
                ? new FlowFilter { DestinationWorkload = name, DestinationWorkloadNamespace = ns }
                : new FlowFilter { DestinationServiceName = name };
            var points = await ReadAsync(() => telemetry.Reader.RangeAsync(range, step, window, filter, request.HttpContext.RequestAborted));
            if (points.Error is { } failed)
            {
                return failed;
            }

            var series = TelemetryViews.Series(points.Value ?? [], kind, name, ns);
            return ApiJson.Write(200, w =>
            {
                w.WriteStartObject();
                w.WriteString("kind", kind);
                w.WriteString("name", name);
                w.WriteString("namespace", ns);
                w.WriteNumber("stepSeconds", step.TotalSeconds);
                w.WriteNumber("windowSeconds", window.TotalSeconds);
                w.WriteStartArray("points");
                foreach (var (time, stats) in series)
                {
                    w.WriteStartObject();
                    ApiJson.Time(w, "time", time);
                    WriteStats(w, stats);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            });
        });
    }

    /// <summary>The numbers of a row, node, edge or point; null values where there was no traffic to compute them from.</summary>
    private static void WriteStats(Utf8JsonWriter w, FlowStats? stats)
    {
        w.WriteBoolean("traffic", stats?.HasTraffic ?? false);
        w.WriteNumber("rps", Math.Round(stats?.Rps ?? 0, 4));
        Nullable(w, "successRate", stats?.SuccessRate, 5);
        Nullable(w, "p50", stats?.P50, 3);
        Nullable(w, "p95", stats?.P95, 3);
        Nullable(w, "p99", stats?.P99, 3);
        w.WriteNumber("tcpBytesPerSecond", Math.Round(stats?.TcpBytesPerSecond ?? 0, 1));
    }

    private static void Nullable(Utf8JsonWriter w, string name, double? value, int digits)
    {
        if (value is { } v && double.IsFinite(v))
        {
            w.WriteNumber(name, Math.Round(v, digits));
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static void WriteOrNull(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }

    private static bool TryDuration(HttpRequest request, string name, TimeSpan fallback, out TimeSpan value, out IResult error)
    {
        error = Results.Empty;
        var text = request.Query[name].ToString();
        if (text.Length == 0)
        {
            value = fallback;
            return true;
        }

        if (ApiDuration.TryParse(text, out var d) && d.Value >= TimeSpan.FromSeconds(1) && d.Value <= TimeSpan.FromDays(1))
        {
            value = d.Value;
            return true;
        }

        value = default;
        error = ApiJson.Error(StatusCodes.Status400BadRequest, $"{name}: \"{text}\" is not a duration between 1s and 24h such as 30s, 1m or 15m");
        return false;
    }

    /// <summary>Runs a read; a Prometheus that cannot be reached or refuses becomes a 502 naming it.</summary>
    private static async Task<(T? Value, IResult? Error)> ReadAsync<T>(Func<Task<T>> read)
    {
        try
        {
            return (await read(), null);
        }
        catch (HttpRequestException e)
        {
            return (default, ApiJson.Error(StatusCodes.Status502BadGateway, e.Message));
        }
        catch (TaskCanceledException e)
        {
            return (default, ApiJson.Error(StatusCodes.Status504GatewayTimeout, $"the metrics source did not answer in time: {e.Message}"));
        }
    }
}
