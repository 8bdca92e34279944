using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Skein.Cli.Output;
using static Skein.Cli.Output.TelemetryText;

namespace Skein.Cli.Commands;

/// <summary>
/// `skein tap WORKLOAD`: every request the workload's sidecars handle, live, one line each (time, direction, method,
/// authority, path, status, latency, Envoy response flags, who called whom), filtered by path prefix and method.
/// </summary>
internal static class TapCommand
{
    public static Command Create()
    {
        var workload = new Argument<string>("workload") { Description = "A workload (all its pods) or a pod of the local mesh." };
        var path = new Option<string?>("--path") { Description = "Only requests whose path starts with this." };
        var method = new Option<string?>("--method") { Description = "Only requests with this method (GET, POST...)." };
        var authority = new Option<string?>("--authority") { Description = "Only requests whose authority contains this." };
        var direction = new Option<string?>("--direction") { Description = "inbound (calls to the workload) or outbound (calls it makes)." };
        var max = new Option<int>("--max", "-n") { Description = "Stop after this many requests (0: until Ctrl+C).", DefaultValueFactory = _ => 0 };
        var output = CommonOptions.Output();
        var runDir = LocalOptions.RunDir();
        var command = new Command("tap", "Stream the requests a workload's sidecars handle, live: method, authority, path, status, latency and response flags.")
        {
            workload, path, method, authority, direction, max, output, runDir,
        };
        command.SetAction(async (parse, cancel) =>
        {
            if (parse.GetValue(direction) is { } d && d is not ("inbound" or "outbound"))
            {
                Console.Error.WriteLine($"skein tap: --direction must be inbound or outbound, not \"{d}\"");
                return ExitCodes.Usage;
            }

            var (targets, error) = TapStream.Resolve(parse.GetValue(runDir), parse.GetValue(workload)!);
            if (error is not null)
            {
                Console.Error.WriteLine($"skein tap: {error}");
                return ExitCodes.Usage;
            }

            var query = TapStream.Query(parse.GetValue(path), parse.GetValue(method), parse.GetValue(authority), parse.GetValue(direction));
            var json = parse.GetValue(output) != OutputFormat.Text;
            var limit = parse.GetValue(max);
            var count = 0;
            if (!json)
            {
                Console.Out.WriteLine(Header);
            }

            await foreach (var e in TapStream.ReadAsync(targets, query, w => Console.Error.WriteLine($"skein tap: {w}"), cancel).ConfigureAwait(false))
            {
                Console.Out.WriteLine(json ? JsonSerializer.Serialize(e.Record) : Line(e));
                if (limit > 0 && ++count >= limit)
                {
                    break;
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    internal const string Header = "TIME          DIR  METHOD  AUTHORITY                 PATH                           STATUS  LATENCY   FLAGS  FROM → TO";

    /// <summary>One request as a line under <see cref="Header"/>.</summary>
    internal static string Line(TapEvent e)
    {
        var r = e.Record;
        var time = DateTimeOffset.TryParse(Str(r, "start_time"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
            ? t.ToLocalTime().ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)
            : "-";
        var dir = Str(r, "reporter") == "destination" ? "in" : "out";
        var status = r.TryGetProperty("response_code", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32().ToString(CultureInfo.InvariantCulture) : "-";
        if (r.TryGetProperty("grpc_status", out var g) && g.ValueKind == JsonValueKind.Number)
        {
            status += $"/{g.GetInt32()}";
        }

        var flags = Str(r, "response_flags") is { Length: > 0 } f ? f : "-";
        var from = Str(r, "source_workload") is { Length: > 0 } s ? s : "unknown";
        var to = Str(r, "destination_workload") is { Length: > 0 } w && w != "unknown" ? w : Str(r, "destination_service") is { Length: > 0 } svc ? svc : "unknown";
        return Invariant($"{time,-13} {dir,-4} {Str(r, "method"),-7} {Clip(Str(r, "authority"), 25),-25} {Clip(Str(r, "path"), 30),-30} {status,-7} {Ms(Number(r, "duration")),-9} {flags,-6} {from} → {to}");
    }

    private static string Clip(string text, int width) => text.Length <= width ? text : text[..(width - 1)] + "…";
}
