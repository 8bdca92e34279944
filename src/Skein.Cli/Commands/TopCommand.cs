using System.CommandLine;
using System.Text.Json;
using Skein.Cli.Output;
using Spectre.Console;
using static Skein.Cli.Output.TelemetryText;

namespace Skein.Cli.Commands;

/// <summary>
/// `skein top WORKLOAD`: the busiest paths through a workload's sidecars, live, from the same stream as `skein tap`:
/// per source, destination, method and path the count, best, worst and last latency, and success rate, like
/// `linkerd viz top`. Redrawn every second; <c>--duration</c> stops and prints the final table.
/// </summary>
internal static class TopCommand
{
    public static Command Create()
    {
        var workload = new Argument<string>("workload") { Description = "A workload (all its pods) or a pod of the local mesh." };
        var path = new Option<string?>("--path") { Description = "Only requests whose path starts with this." };
        var method = new Option<string?>("--method") { Description = "Only requests with this method." };
        var direction = new Option<string?>("--direction") { Description = "inbound or outbound only." };
        var duration = new Option<string?>("--duration") { Description = "Stop after this long (10s, 1m) and print the table once." };
        var rows = new Option<int>("--rows") { Description = "How many paths to show.", DefaultValueFactory = _ => 20 };
        var runDir = LocalOptions.RunDir();
        var command = new Command("top", "Show the busiest paths through a workload's sidecars, live: count, latency (best, worst, last) and success rate.")
        {
            workload, path, method, direction, duration, rows, runDir,
        };
        command.SetAction(async (parse, cancel) =>
        {
            TimeSpan? stopAfter = null;
            if (parse.GetValue(duration) is { Length: > 0 } text)
            {
                if (!Skein.Api.Model.Duration.TryParse(text, out var parsed) || parsed.Value <= TimeSpan.Zero)
                {
                    Console.Error.WriteLine($"skein top: --duration \"{text}\" is not a duration such as 10s or 1m");
                    return ExitCodes.Usage;
                }

                stopAfter = parsed.Value;
            }

            var (targets, error) = TapStream.Resolve(parse.GetValue(runDir), parse.GetValue(workload)!);
            if (error is not null)
            {
                Console.Error.WriteLine($"skein top: {error}");
                return ExitCodes.Usage;
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            if (stopAfter is { } after)
            {
                stop.CancelAfter(after);
            }

            var table = new TopTable();
            var console = Terminal.Create(Console.Out);
            var live = stopAfter is null && !Console.IsOutputRedirected;
            var redraw = live ? Task.Run(async () =>
            {
                using var tick = new PeriodicTimer(TimeSpan.FromSeconds(1));
                while (await tick.WaitForNextTickAsync(stop.Token).ConfigureAwait(false))
                {
                    console.Clear();
                    Print(console, table.Snapshot(), parse.GetValue(rows));
                }
            }, stop.Token) : Task.CompletedTask;
            var query = TapStream.Query(parse.GetValue(path), parse.GetValue(method), null, parse.GetValue(direction));
            try
            {
                await foreach (var e in TapStream.ReadAsync(targets, query, w => Console.Error.WriteLine($"skein top: {w}"), stop.Token).ConfigureAwait(false))
                {
                    table.Add(e.Record);
                }
            }
            catch (OperationCanceledException)
            {
            }

            try
            {
                await redraw.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            Print(console, table.Snapshot(), parse.GetValue(rows));
            return ExitCodes.Ok;
        });
        return command;
    }

    internal static void Print(IAnsiConsole console, IReadOnlyList<TopRow> rows, int limit)
    {
        var table = new Table().Border(TableBorder.None);
        foreach (var h in new[] { "SOURCE", "DESTINATION", "METHOD", "PATH", "COUNT", "BEST", "WORST", "LAST", "SUCCESS" })
        {
            var column = new TableColumn(h).PadLeft(0).PadRight(3);
            table.AddColumn(h is "COUNT" or "BEST" or "WORST" or "LAST" or "SUCCESS" ? column.RightAligned() : column);
        }

        foreach (var r in rows.Take(limit))
        {
            var success = (double)r.Succeeded / r.Count;
            table.AddRow(
                Markup.Escape(r.Source), Markup.Escape(r.Destination), Markup.Escape(r.Method), Markup.Escape(r.Path),
                r.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), Ms(r.Best), Ms(r.Worst), Ms(r.Last),
                $"[{Colour(success)}]{Percent(success)}[/]");
        }

        if (rows.Count == 0)
        {
            console.MarkupLine("[grey]no requests seen yet[/]");
            return;
        }

        console.Write(table);
    }
}

/// <summary>A path's numbers in `skein top`.</summary>
internal sealed record TopRow(string Source, string Destination, string Method, string Path, long Count, long Succeeded, double Best, double Worst, double Last);

/// <summary>Requests grouped by source, destination, method and path (query dropped), busiest first.</summary>
internal sealed class TopTable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string, string, string, string), TopRow> _rows = [];

    public void Add(JsonElement r)
    {
        var path = Str(r, "path");
        var q = path.IndexOf('?', StringComparison.Ordinal);
        if (q >= 0)
        {
            path = path[..q];
        }

        var source = Str(r, "source_workload") is { Length: > 0 } s ? s : "unknown";
        var destination = Str(r, "destination_workload") is { Length: > 0 } d && d != "unknown" ? d : Str(r, "authority");
        var key = (source, destination, Str(r, "method"), path);
        var ms = Number(r, "duration") ?? 0;
        var ok = TapStream.Failed(r) ? 0 : 1;
        lock (_gate)
        {
            _rows[key] = _rows.TryGetValue(key, out var row)
                ? row with { Count = row.Count + 1, Succeeded = row.Succeeded + ok, Best = Math.Min(row.Best, ms), Worst = Math.Max(row.Worst, ms), Last = ms }
                : new TopRow(key.Item1, key.Item2, key.Item3, key.Item4, 1, ok, ms, ms, ms);
        }
    }

    public IReadOnlyList<TopRow> Snapshot()
    {
        lock (_gate)
        {
            return [.. _rows.Values.OrderByDescending(r => r.Count).ThenBy(r => r.Path, StringComparer.Ordinal)];
        }
    }
}
