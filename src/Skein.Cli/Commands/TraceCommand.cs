using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Skein.Cli.Output;
using Spectre.Console;
using static Skein.Cli.Output.TelemetryText;

namespace Skein.Cli.Commands;

/// <summary>
/// `skein trace [ID]`: traces the proxies exported to skein-control's built-in OTLP receiver, each as an indented
/// tree of spans (service, operation, kind, start offset, duration). Without an ID, the most recent ones.
/// </summary>
internal static class TraceCommand
{
    public static Command Create()
    {
        var id = new Argument<string?>("id") { Description = "A trace id (32 hex digits); without it, the most recent traces.", Arity = ArgumentArity.ZeroOrOne };
        var limit = new Option<int>("--limit", "-l") { Description = "How many recent traces to show.", DefaultValueFactory = _ => 5 };
        var service = new Option<string?>("--service", "-s") { Description = "Only traces through this service (a proxy's service.name: its workload)." };
        var minDuration = new Option<string?>("--min-duration") { Description = "Only traces at least this long (100ms, 1s)." };
        var output = CommonOptions.Output();
        var controlPlane = ControlPlaneConnection.Option();
        var command = new Command("trace", "Show recent distributed traces (or one by id) as trees of spans with their durations.")
        {
            id, limit, service, minDuration, output, controlPlane,
        };
        command.SetAction(async (parse, cancel) =>
        {
            using var http = ControlPlaneConnection.Client(ControlPlaneConnection.Resolve(parse.GetValue(controlPlane)));
            var ids = new List<string>();
            if (parse.GetValue(id) is { Length: > 0 } one)
            {
                ids.Add(one);
            }
            else
            {
                var query = $"/api/v1/traces?limit={Math.Clamp(parse.GetValue(limit), 1, 100)}";
                if (parse.GetValue(service) is { Length: > 0 } s)
                {
                    query += $"&service={Uri.EscapeDataString(s)}";
                }

                if (parse.GetValue(minDuration) is { Length: > 0 } d)
                {
                    query += $"&minDuration={Uri.EscapeDataString(d)}";
                }

                using var list = await ControlPlaneConnection.GetJsonAsync(http, query, cancel).ConfigureAwait(false);
                if (list is null)
                {
                    return ExitCodes.Usage;
                }

                ids.AddRange(list.RootElement.GetProperty("traces").EnumerateArray().Select(t => Str(t, "traceId")));
                if (ids.Count == 0)
                {
                    Console.Out.WriteLine("no traces yet: proxies export sampled requests to skein-control over OTLP/HTTP");
                    return ExitCodes.Ok;
                }
            }

            var json = parse.GetValue(output) != OutputFormat.Text;
            var console = Terminal.Create(Console.Out);
            var documents = new List<JsonElement>();
            foreach (var traceId in ids)
            {
                using var doc = await ControlPlaneConnection.GetJsonAsync(http, $"/api/v1/traces/{Uri.EscapeDataString(traceId)}", cancel).ConfigureAwait(false);
                if (doc is null)
                {
                    return ids.Count == 1 ? ExitCodes.Errors : ExitCodes.Usage;
                }

                if (json)
                {
                    documents.Add(doc.RootElement.Clone());
                }
                else
                {
                    Print(console, doc.RootElement);
                }
            }

            if (json)
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(documents.Count == 1 ? documents[0] : JsonSerializer.SerializeToElement(documents), ControlPlaneConnection.Indented));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// <c>trace ID  DURATION  N spans  services  TIME</c>, then one line per span in tree order:
    /// <c>├─ service  operation  kind  +offset  duration  [error]</c>.
    /// </summary>
    internal static void Print(IAnsiConsole console, JsonElement doc)
    {
        var trace = doc.GetProperty("trace");
        var start = DateTimeOffset.TryParse(Str(trace, "start"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t.ToLocalTime().ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture) : "";
        var services = string.Join(", ", trace.GetProperty("services").EnumerateArray().Select(s => s.GetString()));
        console.MarkupLine($"[bold]trace {Markup.Escape(Str(trace, "traceId"))}[/]  {Ms(Number(trace, "durationMs"))}  {trace.GetProperty("spanCount").GetInt32()} spans  {Markup.Escape(services)}  [grey]{start}[/]");
        var spans = doc.GetProperty("spans").EnumerateArray().ToList();
        for (var i = 0; i < spans.Count; i++)
        {
            var span = spans[i];
            var depth = span.GetProperty("depth").GetInt32();
            // The last sibling gets └─: no later span at the same depth before the tree climbs above it.
            var last = true;
            for (var j = i + 1; j < spans.Count; j++)
            {
                var d = spans[j].GetProperty("depth").GetInt32();
                if (d < depth)
                {
                    break;
                }

                if (d == depth)
                {
                    last = false;
                    break;
                }
            }

            var indent = new string(' ', 2 + (depth * 3)) + (depth == 0 ? "" : last ? "└─ " : "├─ ");
            var error = span.GetProperty("error").GetBoolean();
            var orphan = span.TryGetProperty("orphan", out var o) && o.GetBoolean() ? " [grey](parent not received)[/]" : "";
            var status = TryAttribute(span, "http.status_code") ?? TryAttribute(span, "http.response.status_code");
            console.MarkupLine(
                $"{indent}[bold]{Markup.Escape(Str(span, "service"))}[/] {Markup.Escape(Str(span, "name"))}  [grey]{Str(span, "kind")}[/]  " +
                $"+{Ms(Number(span, "offsetMs"))}  [{(error ? "red" : "default")}]{Ms(Number(span, "durationMs"))}{(status is null ? "" : " " + Markup.Escape(status))}{(error ? " error" : "")}[/]{orphan}");
        }

        console.WriteLine();
    }

    private static string? TryAttribute(JsonElement span, string key) =>
        span.TryGetProperty("attributes", out var a) && a.TryGetProperty(key, out var v) && v.GetString() is { Length: > 0 } s ? s : null;
}
