using System.CommandLine;
using Skein.Cli.Local;

namespace Skein.Cli.Commands;

/// <summary>`skein control-plane restart`: restarts the local mesh's skein-control; proxies keep serving and resync.</summary>
internal static class ControlPlaneCommand
{
    public static Command Create()
    {
        var runDir = LocalOptions.RunDir();
        var restart = new Command("restart", "Stop and start the local mesh's skein-control, keeping its config and registry; proxies keep serving meanwhile and resync when it is back.")
        {
            runDir,
        };
        restart.SetAction(async (parse, cancel) =>
        {
            try
            {
                var record = await LocalRuntime.RestartControlPlaneAsync(LocalOptions.ResolveRunDir(parse.GetValue(runDir)), TimeSpan.FromSeconds(60), cancel).ConfigureAwait(false);
                Console.Out.WriteLine($"skein-control restarted (pid {record.Pid})");
                return ExitCodes.Ok;
            }
            catch (LocalRuntimeException ex)
            {
                Console.Error.WriteLine($"skein control-plane restart: {ex.Message}");
                return ExitCodes.Errors;
            }
        });
        return new Command("control-plane", "Manage the local mesh's control plane.") { restart };
    }
}
