using System.Diagnostics;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Logging.Console;
using Skein.Bookstore.Common;
using Skein.Bookstore.Roles;

namespace Skein.Bookstore;

/// <summary>
/// Builds and runs one role. Once listening it prints
/// "bookstore ROLE VERSION listening on http://ADDRESS:PORT" (the real port when --port 0),
/// which scripts and tests wait for.
/// </summary>
internal static partial class BookstoreHost
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (BookstoreOptions.IsHelp(args))
        {
            Console.Out.Write(BookstoreOptions.Usage);
            return 0;
        }

        BookstoreOptions options;
        try
        {
            options = BookstoreOptions.Parse(args, Environment.GetEnvironmentVariable);
        }
        catch (BookstoreOptionsException e)
        {
            await Console.Error.WriteLineAsync($"bookstore: {e.Message}");
            return 2;
        }

        await using var app = Build(options, TimeProvider.System, Random.Shared.NextDouble);
        try
        {
            await app.StartAsync();
        }
        catch (IOException e)
        {
            await Console.Error.WriteLineAsync($"bookstore: cannot listen on {options.Listen}:{options.Port}: {e.Message}");
            return 1;
        }

        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        await Console.Out.WriteLineAsync($"bookstore {options.RoleName} {options.Version} listening on {addresses?.FirstOrDefault()}");
        await Console.Out.FlushAsync();

        if (options.ParentPid is { } parent)
        {
            _ = ExitWithParentAsync(parent, app.Lifetime, TimeProvider.System);
        }
        await app.WaitForShutdownAsync();
        return 0;
    }

    public static WebApplication Build(BookstoreOptions options, TimeProvider time, Func<double> random)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // One plaintext port for HTTP/1.1 and h2c (gRPC and /healthz together); see H2cDetection.
            kestrel.Listen(options.Listen, options.Port, listen => listen.UseH2cDetection(time));
        });

        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(console => console.FormatterName = LineConsoleFormatter.FormatterName)
            .AddConsoleFormatter<LineConsoleFormatter, ConsoleFormatterOptions>();
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("System", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);

        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton(new Chaos(options.Chaos, random));
        switch (options.Role)
        {
            case BookstoreRole.Frontend:
                FrontendRole.AddTo(builder.Services);
                break;
            case BookstoreRole.Catalog:
                CatalogRole.AddTo(builder.Services);
                break;
            case BookstoreRole.Reviews:
                ReviewsRole.AddTo(builder.Services);
                break;
            case BookstoreRole.Ratings:
                RatingsRole.AddTo(builder.Services);
                break;
            default:
                throw new UnreachableException();
        }

        var app = builder.Build();
        app.UseMiddleware<BookstoreMiddleware>();
        app.MapCommon(options);
        app.Services.GetRequiredService<IRole>().MapEndpoints(app);
        return app;
    }

    /// <summary>Stops the app once <paramref name="pid"/> has exited, so test harnesses never leave orphans.</summary>
    private static async Task ExitWithParentAsync(int pid, IHostApplicationLifetime lifetime, TimeProvider time)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500), time);
        try
        {
            while (await timer.WaitForNextTickAsync(lifetime.ApplicationStopping))
            {
                if (!IsAlive(pid))
                {
                    lifetime.StopApplication();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Shutting down anyway.
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
