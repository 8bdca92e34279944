using System.CommandLine;
using Skein.Cli.Commands;

var root = new RootCommand("Skein: a service mesh. Istio's config API, a light sidecar, and a whole mesh on one machine.");
root.Subcommands.Add(AnalyzeCommand.Create());
root.Subcommands.Add(UpCommand.Create());
root.Subcommands.Add(DownCommand.Create());
root.Subcommands.Add(StatusCommand.Create());
root.Subcommands.Add(ExecCommand.Create());
root.Subcommands.Add(VersionCommand.Create());
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
