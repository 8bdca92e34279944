using System.CommandLine;
using System.Diagnostics;
using Skein.Cli.Output;

namespace Skein.Cli.Commands;

/// <summary>`skein dashboard`: prints the URL of skein-control's dashboard and opens it when there is a desktop to open it on.</summary>
internal static class DashboardCommand
{
    public static Command Create()
    {
        var noOpen = new Option<bool>("--no-open") { Description = "Only print the URL." };
        var controlPlane = ControlPlaneConnection.Option();
        var command = new Command("dashboard", "Print (and open in a browser, when there is a desktop) the URL of the dashboard: topology, service charts, traces, proxy sync.")
        {
            noOpen, controlPlane,
        };
        command.SetAction(async (parse, cancel) =>
        {
            using var http = ControlPlaneConnection.Client(ControlPlaneConnection.Resolve(parse.GetValue(controlPlane)));
            using var info = await ControlPlaneConnection.GetJsonAsync(http, "/api/v1/telemetry/info", cancel).ConfigureAwait(false);
            if (info is null)
            {
                return ExitCodes.Usage;
            }

            var url = TelemetryText.Str(info.RootElement, "dashboardUrl");
            if (url.Length == 0)
            {
                Console.Error.WriteLine("skein dashboard: skein-control runs without a dashboard (--dashboard-port off)");
                return ExitCodes.Errors;
            }

            Console.Out.WriteLine(url);
            if (!parse.GetValue(noOpen) && CanOpen() is { } opener)
            {
                try
                {
                    using var process = Process.Start(new ProcessStartInfo(opener, url) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true });
                }
                catch (System.ComponentModel.Win32Exception)
                {
                    // Printing the URL is enough.
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The dashboard's URL as skein-control reports it, or null when it cannot say (for `skein demo`'s instructions).</summary>
    public static async Task<string?> UrlAsync(string controlApi, CancellationToken cancel)
    {
        try
        {
            using var http = ControlPlaneConnection.Client(controlApi);
            using var response = await http.GetAsync("/api/v1/telemetry/info", cancel).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }

            using var doc = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false));
            return TelemetryText.Str(doc.RootElement, "dashboardUrl") is { Length: > 0 } url ? url : null;
        }
        catch (Exception e) when (e is HttpRequestException or System.Text.Json.JsonException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>xdg-open, when a graphical session is there to show the page.</summary>
    private static string? CanOpen()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DISPLAY")) && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("WAYLAND_DISPLAY")))
        {
            return null;
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "xdg-open"))
            .FirstOrDefault(File.Exists);
    }
}
