using Skein.ControlPlane;

ControlPlaneOptions options;
try
{
    if (args.Contains("--help") || args.Contains("-h"))
    {
        Console.WriteLine(ControlPlaneOptions.Usage);
        return 0;
    }

    options = ControlPlaneOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"skein-control: {e.Message}");
    Console.Error.WriteLine(ControlPlaneOptions.Usage);
    return 2;
}

await using var host = ControlPlaneHost.Create(options);
try
{
    await host.StartAsync();
}
catch (IOException e)
{
    // Kestrel reports a port in use as an IOException.
    Console.Error.WriteLine($"skein-control: cannot listen: {e.Message}");
    return 1;
}

await host.WaitForShutdownAsync();
return 0;
