using System.CommandLine;
using System.Text.Json;
using Skein.Cli.Output;
using Spectre.Console;

namespace Skein.Cli.Commands;

/// <summary>`skein proxy-status`: every proxy, whether it is connected and in sync per xDS type, and its last NACK.</summary>
internal static class ProxyStatusCommand
{
    private static readonly (string Column, string Key)[] Types = [("CDS", "clusters"), ("EDS", "endpoints"), ("LDS", "listeners"), ("RDS", "routes")];

    public static Command Create()
    {
        var output = CommonOptions.Output();
        var controlPlane = ControlPlaneConnection.Option();
        var command = new Command("proxy-status", "Show every proxy's connection and sync state (SYNCED, STALE, NOT SENT) per xDS type, and the last rejected config.")
        {
            output, controlPlane,
        };
        command.SetAction(async (parse, cancel) =>
        {
            using var http = ControlPlaneConnection.Client(ControlPlaneConnection.Resolve(parse.GetValue(controlPlane)));
            using var doc = await ControlPlaneConnection.GetJsonAsync(http, "/api/v1/proxies", cancel).ConfigureAwait(false);
            if (doc is null)
            {
                return ExitCodes.Usage;
            }

            if (parse.GetValue(output) != OutputFormat.Text)
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(doc.RootElement, ControlPlaneConnection.Indented));
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("PROXY", "WORKLOAD", "CONNECTED", "CDS", "EDS", "LDS", "RDS", "LAST NACK");
            var allSynced = true;
            foreach (var proxy in doc.RootElement.GetProperty("proxies").EnumerateArray())
            {
                var connected = proxy.GetProperty("connected").GetBoolean();
                var cells = new List<string>
                {
                    Markup.Escape(proxy.GetProperty("id").GetString() ?? ""),
                    Markup.Escape(proxy.GetProperty("workload").GetString() ?? ""),
                    connected ? "[green]yes[/]" : "[red]no[/]",
                };
                foreach (var (_, key) in Types)
                {
                    var state = SyncState(proxy, key);
                    allSynced &= state == "SYNCED" || !connected;
                    cells.Add(state switch { "SYNCED" => "[green]SYNCED[/]", "STALE" => "[yellow]STALE[/]", _ => $"[grey]{state}[/]" });
                }

                cells.Add(proxy.GetProperty("lastNack") is { ValueKind: JsonValueKind.Object } nack
                    ? $"[red]{Markup.Escape($"{nack.GetProperty("type").GetString()} v{nack.GetProperty("version").GetString()}: {nack.GetProperty("message").GetString()}")}[/]"
                    : "");
                table.AddRow(cells.ToArray());
            }

            Terminal.Create(Console.Out).Write(table);
            return allSynced ? ExitCodes.Ok : ExitCodes.Errors;
        });
        return command;
    }

    /// <summary>SYNCED when the last version sent was ACKed, STALE when an ACK is pending or a NACK holds it back.</summary>
    private static string SyncState(JsonElement proxy, string type)
    {
        if (!proxy.GetProperty("types").TryGetProperty(type, out var t) || t.GetProperty("sent").ValueKind == JsonValueKind.Null)
        {
            return "NOT SENT";
        }

        return t.GetProperty("synced").GetBoolean() ? "SYNCED" : "STALE";
    }
}
