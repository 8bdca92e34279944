using System.CommandLine;

namespace Skein.Cli.Commands;

/// <summary>`skein get [KIND]`: the config skein-control holds, as YAML.</summary>
internal static class GetCommand
{
    public static Command Create()
    {
        var kind = new Argument<string?>("kind") { Description = "Only this kind (VirtualService, DestinationRule, ...).", Arity = ArgumentArity.ZeroOrOne };
        var ns = new Option<string?>("--namespace", "-n") { Description = "Only this namespace." };
        var controlPlane = ControlPlaneConnection.Option();
        var command = new Command("get", "Print the config the control plane holds, as YAML.") { kind, ns, controlPlane };
        command.SetAction(async (parse, cancel) =>
        {
            using var http = ControlPlaneConnection.Client(ControlPlaneConnection.Resolve(parse.GetValue(controlPlane)));
            var query = $"/api/v1/config?kind={Uri.EscapeDataString(parse.GetValue(kind) ?? "")}&namespace={Uri.EscapeDataString(parse.GetValue(ns) ?? "")}";
            try
            {
                using var response = await http.GetAsync(query, cancel).ConfigureAwait(false);
                var body = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    Console.Error.WriteLine($"skein get: {(int)response.StatusCode} {ControlPlaneConnection.ErrorText(body)}");
                    return ExitCodes.Errors;
                }

                Console.Out.Write(body);
                return ExitCodes.Ok;
            }
            catch (HttpRequestException ex)
            {
                Console.Error.WriteLine($"skein get: cannot reach the control plane at {http.BaseAddress}: {ex.Message}");
                return ExitCodes.Usage;
            }
        });
        return command;
    }
}
