using System.CommandLine;
using System.Text.Json;
using Skein.Cli.Output;
using Spectre.Console;
using static Skein.Cli.Output.TelemetryText;

namespace Skein.Cli.Commands;

/// <summary>
/// `skein stat [workload|service] [NAME]`: the golden signals per workload (its inbound traffic, as its own sidecar
/// saw it) or per service (as callers' sidecars saw it, faults included), over a time window, like
/// `linkerd viz stat`. Reads skein-control's <c>/api/v1/telemetry/stat</c>.
/// </summary>
internal static class StatCommand
{
    /// <summary>With --watch, one JSON document per line.</summary>
    private static readonly JsonSerializerOptions Compact = new();

    public static Command Create()
    {
        var kind = new Argument<string>("kind")
        {
            Description = "workload (default) or service; also deploy, wl, svc.",
            Arity = ArgumentArity.ZeroOrOne,
            DefaultValueFactory = _ => "workload",
        };
        var name = new Argument<string?>("name") { Description = "Only this workload or service.", Arity = ArgumentArity.ZeroOrOne };
        var ns = new Option<string?>("--namespace", "-n") { Description = "Only this namespace." };
        var window = new Option<string>("--window", "-t") { Description = "Time window the rates cover (Go duration: 30s, 1m, 5m).", DefaultValueFactory = _ => "1m" };
        var watch = new Option<bool>("--watch", "-w") { Description = "Refresh every --interval until Ctrl+C." };
        var interval = new Option<double>("--interval") { Description = "Seconds between refreshes with --watch.", DefaultValueFactory = _ => 2 };
        var output = CommonOptions.Output();
        var controlPlane = ControlPlaneConnection.Option();
        var command = new Command("stat", "Show success rate, requests per second, latency percentiles (p50, p95, p99) and TCP throughput per workload or service.")
        {
            kind, name, ns, window, watch, interval, output, controlPlane,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var k = parse.GetValue(kind)!.ToLowerInvariant() switch
            {
                "workload" or "workloads" or "wl" or "deploy" or "deployment" or "deployments" or "po" or "pods" => "workload",
                "service" or "services" or "svc" => "service",
                var other => null,
            };
            if (k is null)
            {
                Console.Error.WriteLine($"skein stat: \"{parse.GetValue(kind)}\" is not workload or service");
                return ExitCodes.Usage;
            }

            using var http = ControlPlaneConnection.Client(ControlPlaneConnection.Resolve(parse.GetValue(controlPlane)));
            var query = $"/api/v1/telemetry/stat?kind={k}&window={Uri.EscapeDataString(parse.GetValue(window)!)}";
            if (parse.GetValue(name) is { Length: > 0 } n)
            {
                query += $"&name={Uri.EscapeDataString(n)}";
            }

            if (parse.GetValue(ns) is { Length: > 0 } namespaceFilter)
            {
                query += $"&namespace={Uri.EscapeDataString(namespaceFilter)}";
            }

            var json = parse.GetValue(output) != OutputFormat.Text;
            var console = Terminal.Create(Console.Out);
            do
            {
                using var doc = await ControlPlaneConnection.GetJsonAsync(http, query, cancel).ConfigureAwait(false);
                if (doc is null)
                {
                    return ExitCodes.Usage;
                }

                if (json)
                {
                    Console.Out.WriteLine(JsonSerializer.Serialize(doc.RootElement, parse.GetValue(watch) ? Compact : ControlPlaneConnection.Indented));
                }
                else
                {
                    if (parse.GetValue(watch) && !Console.IsOutputRedirected)
                    {
                        console.Clear();
                    }

                    Print(console, k, doc.RootElement);
                }

                if (!parse.GetValue(watch))
                {
                    return ExitCodes.Ok;
                }

                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(Math.Max(0.5, parse.GetValue(interval))), cancel).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return ExitCodes.Ok;
                }

                if (Console.IsOutputRedirected && !json)
                {
                    Console.Out.WriteLine();
                }
            }
            while (!cancel.IsCancellationRequested);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>NAME [NAMESPACE] SUCCESS RPS LATENCY_P50 LATENCY_P95 LATENCY_P99 TCP, one row per workload or service.</summary>
    internal static void Print(IAnsiConsole console, string kind, JsonElement doc)
    {
        var rows = doc.GetProperty("rows").EnumerateArray().ToList();
        if (rows.Count == 0)
        {
            console.MarkupLine($"[grey]no {kind}s found[/]");
            return;
        }

        var namespaces = rows.Any(r => Str(r, "namespace") != "default");
        var table = new Table().Border(TableBorder.None).HideHeaders();
        var headers = new List<string> { "NAME" };
        if (namespaces)
        {
            headers.Add("NAMESPACE");
        }

        headers.AddRange(["SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99", "TCP"]);
        foreach (var h in headers)
        {
            var column = new TableColumn(h).PadLeft(0).PadRight(3);
            table.AddColumn(h is "NAME" or "NAMESPACE" ? column : column.RightAligned());
        }

        table.AddRow(headers.Select(h => new Markup(h)).ToArray());
        foreach (var row in rows)
        {
            var success = Number(row, "successRate");
            var traffic = row.TryGetProperty("traffic", out var t) && t.ValueKind == JsonValueKind.True;
            var cells = new List<string> { Markup.Escape(Str(row, "name")) };
            if (namespaces)
            {
                cells.Add(Markup.Escape(Str(row, "namespace")));
            }

            cells.Add($"[{Colour(success)}]{Percent(success)}[/]");
            cells.Add(traffic ? Rps(Number(row, "rps")) : "-");
            cells.Add(Ms(Number(row, "p50")));
            cells.Add(Ms(Number(row, "p95")));
            cells.Add(Ms(Number(row, "p99")));
            cells.Add(BytesPerSecond(Number(row, "tcpBytesPerSecond") ?? 0));
            table.AddRow(cells.Select(c => new Markup(c)).ToArray());
        }

        console.Write(table);
    }
}
