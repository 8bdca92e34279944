using System.CommandLine;
using Skein.Cli.Local;

namespace Skein.Cli.Commands;

/// <summary>`skein down`: removes every process, namespace, interface and rule of the local mesh.</summary>
internal static class DownCommand
{
    public static Command Create()
    {
        var runDir = LocalOptions.RunDir();
        var grace = new Option<int>("--grace")
        {
            Description = "Seconds processes get to exit after SIGTERM before they are killed.",
            DefaultValueFactory = _ => 5,
        };
        var command = new Command("down", "Stop the local mesh and remove its namespaces, interfaces and iptables rules (also after a crash).")
        {
            runDir,
            grace,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var dir = LocalOptions.ResolveRunDir(parse.GetValue(runDir));
            var result = await Teardown.DownAsync(dir, TimeSpan.FromSeconds(Math.Max(0, parse.GetValue(grace))), Console.Out.WriteLine).ConfigureAwait(false);
            if (result.StateProblem is not null && result.Processes == 0 && result.Removed.Count == 0)
            {
                Console.Out.WriteLine($"nothing to remove ({result.StateProblem}; swept for leftovers)");
            }

            foreach (var item in result.Removed)
            {
                Console.Out.WriteLine($"removed {item}");
            }

            foreach (var problem in result.Problems)
            {
                Console.Error.WriteLine($"skein down: {problem}");
            }

            if (result.Problems.Count > 0)
            {
                return ExitCodes.Errors;
            }

            Console.Out.WriteLine($"✔ mesh is down ({result.Processes} process(es) stopped)");
            return ExitCodes.Ok;
        });
        return command;
    }
}
