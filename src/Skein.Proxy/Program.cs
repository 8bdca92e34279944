using System.Diagnostics;
using System.Runtime.InteropServices;
using Skein.Proxy;
using Skein.Proxy.Discovery;

// skein-proxy: the sidecar data plane. Exit codes: 0 normal (SIGTERM drained, /quitquitquit), 2 usage, 3 bad config.
var started = Stopwatch.GetTimestamp();
if (args is ["--help" or "-h"])
{
    Console.WriteLine(ProxyOptions.Usage);
    return 0;
}

ProxyOptions options;
Bootstrap? bootstrap = null;
try
{
    options = ProxyOptions.Parse(args);
    if (options.BootstrapPath is not null)
    {
        bootstrap = BootstrapLoader.Load(options.BootstrapPath);
    }
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"skein-proxy: {e.Message}");
    Console.Error.WriteLine(ProxyOptions.Usage);
    return 2;
}
catch (BootstrapException e)
{
    Console.Error.WriteLine($"skein-proxy: {e.Message}");
    return 3;
}

if (bootstrap?.AdminAddress is { } admin && !args.Contains("--admin-port"))
{
    options = options with { AdminPort = admin.Port };
}

var trace = Environment.GetEnvironmentVariable("SKEIN_PROXY_TRACE_STARTUP") == "1";
void Phase(string name)
{
    if (trace)
    {
        Console.Error.WriteLine($"startup: {name} at {Stopwatch.GetElapsedTime(started).TotalMilliseconds:F1} ms");
    }
}

Phase("options and bootstrap parsed");
await using var host = ProxyHost.Create(options, new ProxyHostServices { Bootstrap = bootstrap });
Phase("host built");
var quit = new TaskCompletionSource();
host.QuitRequested += () => quit.TrySetResult();
try
{
    await host.StartAsync();
    Phase("listening and config applied");
}
catch (BootstrapException e)
{
    Console.Error.WriteLine($"skein-proxy: {e.Message}");
    return 3;
}
catch (IOException e)
{
    Console.Error.WriteLine($"skein-proxy: cannot listen: {e.Message}");
    return 3;
}

// Ready means: every port listening and a first config applied (static, or from the control plane).
_ = host.Store.FirstApplied.ContinueWith(
    _ =>
    {
        var inProcess = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var sinceExec = (DateTime.Now - Process.GetCurrentProcess().StartTime).TotalMilliseconds;
        Console.Out.WriteLine(
            $"skein-proxy ready in {sinceExec:F0} ms (process start to ready; {inProcess:F0} ms in main) " +
            $"outbound={host.OutboundPort} inbound={host.InboundPort} admin={host.AdminPort} stats={host.StatsPort} health={host.HealthPort}");
        Console.Out.Flush();
    },
    TaskScheduler.Default);

// SIGTERM/SIGINT: the host stops accepting, lets in-flight requests finish up to --drain-duration, then we exit 0.
void Stop(PosixSignalContext ctx)
{
    ctx.Cancel = true;
    host.Lifetime.StopApplication();
}

using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
await Task.WhenAny(host.WaitForShutdownAsync(), quit.Task);
if (quit.Task.IsCompleted)
{
    Console.Out.Flush();
    Environment.Exit(0); // /quitquitquit: exit at once, no drain
}

return 0;
