using System.CommandLine;
using System.Diagnostics;
using Skein.Cli.Local;
using Skein.Cli.Output;

namespace Skein.Cli.Commands;

/// <summary>`skein exec POD -- CMD...`: runs a command inside a pod of the local mesh, as its app would run.</summary>
internal static class ExecCommand
{
    public static Command Create()
    {
        var pod = new Argument<string>("pod") { Description = "A pod name (frontend-0), or a workload name for its first pod." };
        var cmd = new Argument<string[]>("command") { Description = "The command and its arguments, after --.", Arity = ArgumentArity.OneOrMore };
        var runDir = LocalOptions.RunDir();
        var command = new Command("exec", "Run a command inside a pod's network namespace (its hosts file and traffic capture apply): skein exec client -- curl http://frontend:9080/")
        {
            pod,
            cmd,
            runDir,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var dir = LocalOptions.ResolveRunDir(parse.GetValue(runDir));
            var (state, problem) = StateStore.Load(dir);
            if (state is null)
            {
                Console.Error.WriteLine($"skein exec: no local mesh is up ({problem}); start one with `skein up -f DIR`");
                return ExitCodes.Usage;
            }

            var name = parse.GetValue(pod)!;
            var target = state.Pods.FirstOrDefault(p => p.Name == name) ?? state.Pods.FirstOrDefault(p => p.Workload == name);
            if (target is null)
            {
                Console.Error.WriteLine($"skein exec: no pod {name}; pods: {string.Join(", ", state.Pods.Select(p => p.Name))}");
                return ExitCodes.Usage;
            }

            var argv = parse.GetValue(cmd)!;
            var start = new ProcessStartInfo { UseShellExecute = false };
            if (state.Mode == RuntimeModes.Netns)
            {
                if (target.Netns is null)
                {
                    Console.Error.WriteLine($"skein exec: pod {target.Name} has no network namespace yet");
                    return ExitCodes.Errors;
                }

                start.FileName = Shell.Require("ip", "iproute2");
                foreach (var arg in new[] { "netns", "exec", target.Netns }.Concat(argv))
                {
                    start.ArgumentList.Add(arg);
                }
            }
            else
            {
                start.FileName = argv[0];
                foreach (var arg in argv.Skip(1))
                {
                    start.ArgumentList.Add(arg);
                }

                if (target.Ports is { } ports)
                {
                    start.Environment["HTTP_PROXY"] = start.Environment["http_proxy"] = $"http://127.0.0.1:{ports.Outbound}";
                    start.Environment["NO_PROXY"] = start.Environment["no_proxy"] = "localhost,127.0.0.1";
                }
            }

            start.Environment["INSTANCE"] = target.Name;
            if (target.Address is not null)
            {
                start.Environment["POD_IP"] = target.Address;
            }

            try
            {
                using var process = Process.Start(start)!;
                await process.WaitForExitAsync(cancel).ConfigureAwait(false);
                return process.ExitCode;
            }
            catch (System.ComponentModel.Win32Exception ex)
            {
                Console.Error.WriteLine($"skein exec: cannot run {argv[0]}: {ex.Message}");
                return ExitCodes.Errors;
            }
        });
        return command;
    }
}

/// <summary>`skein status`: the pods of the local mesh, from its state file.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var runDir = LocalOptions.RunDir();
        var command = new Command("status", "List the pods of the local mesh started by `skein up`.") { runDir };
        command.SetAction(parse =>
        {
            var dir = LocalOptions.ResolveRunDir(parse.GetValue(runDir));
            var (state, problem) = StateStore.Load(dir);
            if (state is null)
            {
                Console.Out.WriteLine($"no local mesh is up ({problem})");
                return ExitCodes.Ok;
            }

            foreach (var pod in state.Pods)
            {
                // A pod whose processes are gone is not running, whatever was recorded.
                if (pod.State == PodStates.Running && !(pod.App is { } app && ProcessLauncher.IsAlive(app) && pod.Proxy is { } proxy && ProcessLauncher.IsAlive(proxy)))
                {
                    pod.State = "exited";
                }
            }

            var console = Terminal.Create(Console.Out);
            PodTable.Print(console, state);
            var control = state.Control is { } c && ProcessLauncher.IsAlive(c) ? "running" : "not running";
            console.Write(new Spectre.Console.Text($"mode {state.Mode}, control plane {state.ControlApi} ({control}), run dir {dir}\n"));
            return ExitCodes.Ok;
        });
        return command;
    }
}
