using System.CommandLine;
using System.Text.Json;
using Skein.Cli.Output;
using Spectre.Console;

namespace Skein.Cli.Commands;

/// <summary>
/// `skein proxy-config listeners|routes|clusters|endpoints WORKLOAD`: the config a proxy runs (its
/// last ACKed version), as a summary table or the full xDS JSON.
/// </summary>
internal static class ProxyConfigCommand
{
    public static Command Create()
    {
        var type = new Argument<string>("type") { Description = "listeners, routes, clusters or endpoints." };
        type.AcceptOnlyFromAmong("listeners", "routes", "clusters", "endpoints");
        var proxy = new Argument<string>("proxy") { Description = "A workload name, instance (pod) name or proxy id." };
        var output = CommonOptions.Output();
        var controlPlane = ControlPlaneConnection.Option();
        var command = new Command("proxy-config", "Show the listeners, routes, clusters or endpoints one proxy runs.") { type, proxy, output, controlPlane };
        command.SetAction(async (parse, cancel) =>
        {
            var kind = parse.GetValue(type)!;
            using var http = ControlPlaneConnection.Client(ControlPlaneConnection.Resolve(parse.GetValue(controlPlane)));
            using var doc = await ControlPlaneConnection.GetJsonAsync(http, $"/api/v1/proxies/{Uri.EscapeDataString(parse.GetValue(proxy)!)}/config?type={kind}", cancel).ConfigureAwait(false);
            if (doc is null)
            {
                return ExitCodes.Errors;
            }

            var section = doc.RootElement.GetProperty(kind);
            if (parse.GetValue(output) != OutputFormat.Text)
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(section, ControlPlaneConnection.Indented));
                return ExitCodes.Ok;
            }

            // Inbound routes are inline in the listeners (Istio's shape): the table shows them too.
            using var listeners = kind == "routes"
                ? await ControlPlaneConnection.GetJsonAsync(http, $"/api/v1/proxies/{Uri.EscapeDataString(parse.GetValue(proxy)!)}/config?type=listeners", cancel).ConfigureAwait(false)
                : null;
            var console = Terminal.Create(Console.Out);
            console.MarkupLine($"[grey]{Markup.Escape(doc.RootElement.GetProperty("id").GetString() ?? "")} version {Markup.Escape(section.GetProperty("version").ToString())}[/]");
            console.Write(ProxyConfigTables.For(kind, section.GetProperty("resources"), listeners?.RootElement.GetProperty("listeners").GetProperty("resources")));
            return ExitCodes.Ok;
        });
        return command;
    }
}
