using System.CommandLine;
using Skein.Cli.Local;
using Skein.Cli.Output;
using Spectre.Console;

namespace Skein.Cli.Commands;

/// <summary>
/// `skein demo`: the bookstore sample as a real mesh (every pod with its sidecar and captured
/// traffic), a client pod to call from, and a traffic pod that keeps requests flowing.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var runDir = LocalOptions.RunDir();
        var loopback = new Option<bool>("--loopback") { Description = "Run without network namespaces (the default without root)." };
        var command = new Command("demo", "Run the bookstore sample mesh with steady traffic, and show what to look at.") { runDir, loopback };
        command.SetAction(async (parse, cancel) =>
        {
            if (FindSamples() is not { } samples)
            {
                Console.Error.WriteLine("skein demo: cannot find samples/mesh; run it from a Skein checkout (./skein demo)");
                return ExitCodes.Usage;
            }

            string[] paths = [Path.Combine(samples, "mesh"), Path.Combine(samples, "client"), Path.Combine(samples, "demo")];
            var code = await UpCommand.RunAsync(paths, recursive: false, parse.GetValue(runDir), parse.GetValue(loopback), wait: true, timeout: 120, cancel).ConfigureAwait(false);
            if (code != ExitCodes.Ok)
            {
                return code;
            }

            var console = Terminal.Create(Console.Out);
            var mesh = Path.GetRelativePath(Environment.CurrentDirectory, Path.Combine(samples, "mesh"));
            var dashboard = await DashboardCommand.UrlAsync(ControlPlaneConnection.Resolve(null, parse.GetValue(runDir)), cancel).ConfigureAwait(false) ?? "http://127.0.0.1:20001/";
            console.Write(new Rule("[bold]the bookstore mesh is running, with traffic[/]").LeftJustified());
            console.MarkupLine($"""
                  The traffic pod calls http://frontend:9080/ five times a second (every third call as end-user jason).
                  Look at it:
                    [bold]{Markup.Escape(dashboard)}[/]{new string(' ', Math.Max(1, 60 - dashboard.Length))}the dashboard: topology, charts, traces (or [bold]skein dashboard[/])
                    [bold]skein stat[/]                                                  success rate, rps and p50/p95/p99 per workload ([bold]skein stat svc[/] per service)
                    [bold]skein tap reviews-v2[/]                                        its requests, live ([bold]skein top frontend[/]: the busiest paths)
                    [bold]skein trace[/]                                                 the latest traces as trees of spans
                    [bold]skein exec client-0 -- curl -s http://frontend:9080/[/]        the page, naming the reviews version
                    [bold]skein proxy-status[/]                                          every sidecar in sync with the control plane
                    [bold]skein proxy-config routes frontend[/]                          the routes the frontend's sidecar holds
                    [bold]tail -f {Markup.Escape(Path.Combine(LocalOptions.ResolveRunDir(parse.GetValue(runDir)), "logs"))}/frontend-0-proxy.log[/]   one access-log line per request
                  Change it (each is one file; `skein delete -f` undoes it):
                    [bold]skein apply -f {Markup.Escape(mesh)}/canary[/]            90% of reviews to v1, 10% to v2
                    [bold]skein apply -f {Markup.Escape(mesh)}/header-routing[/]    end-user jason to v2, everyone else to v1
                    [bold]skein apply -f {Markup.Escape(mesh)}/fault-delay[/]       half the ratings calls delayed 2 s
                  Stop it:
                    [bold]skein down[/]
                """);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The checkout's samples folder: from the working directory or above the CLI.</summary>
    private static string? FindSamples()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (Directory.Exists(Path.Combine(dir.FullName, "samples", "mesh")) && File.Exists(Path.Combine(dir.FullName, "Skein.sln")))
                {
                    return Path.Combine(dir.FullName, "samples");
                }
            }
        }

        return null;
    }
}
