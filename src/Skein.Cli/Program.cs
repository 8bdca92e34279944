using System.CommandLine;
using Skein.Cli.Commands;

var root = new RootCommand("Skein: a service mesh. Istio's config API, a light sidecar, and a whole mesh on one machine.");
root.Subcommands.Add(AnalyzeCommand.Create());
root.Subcommands.Add(CheckCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(UpCommand.Create());
root.Subcommands.Add(DownCommand.Create());
root.Subcommands.Add(StatusCommand.Create());
root.Subcommands.Add(ExecCommand.Create());
root.Subcommands.Add(ApplyCommand.Create(delete: false));
root.Subcommands.Add(ApplyCommand.Create(delete: true));
root.Subcommands.Add(GetCommand.Create());
root.Subcommands.Add(ProxyStatusCommand.Create());
root.Subcommands.Add(ProxyConfigCommand.Create());
root.Subcommands.Add(ControlPlaneCommand.Create());
root.Subcommands.Add(StatCommand.Create());
root.Subcommands.Add(TopCommand.Create());
root.Subcommands.Add(TapCommand.Create());
root.Subcommands.Add(TraceCommand.Create());
root.Subcommands.Add(DashboardCommand.Create());
root.Subcommands.Add(VersionCommand.Create());
// Ctrl+C cancels the running verb; `skein up` then removes what it started, which takes longer
// than System.CommandLine's default 2 s grace.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) };
return await root.Parse(args).InvokeAsync(invocation).ConfigureAwait(false);
