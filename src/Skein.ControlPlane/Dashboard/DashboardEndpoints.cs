using System.Collections.Frozen;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Skein.ControlPlane.Dashboard;

/// <summary>
/// The dashboard's files (HTML, CSS, JavaScript written for it, no third-party code), embedded in skein-control's
/// assembly so it works offline and with nothing to install. Served at <c>/</c> on the dashboard port (and on the
/// API port); the pages read the same JSON API the CLI reads.
/// </summary>
internal static class DashboardEndpoints
{
    private static readonly FrozenDictionary<string, (byte[] Body, string Type)> Files = Load();

    public static IReadOnlyCollection<string> Paths => Files.Keys;

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/", () => Serve("index.html"));
        app.MapGet("/index.html", () => Serve("index.html"));
        app.MapGet("/dashboard.js", () => Serve("dashboard.js"));
        app.MapGet("/dashboard.css", () => Serve("dashboard.css"));
    }

    private static IResult Serve(string name) =>
        Files.TryGetValue(name, out var file)
            ? Results.Bytes(file.Body, file.Type)
            : Results.NotFound();

    private static FrozenDictionary<string, (byte[], string)> Load()
    {
        var assembly = typeof(DashboardEndpoints).Assembly;
        var files = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith("dashboard/", StringComparison.Ordinal))
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var name = resource["dashboard/".Length..];
            var type = Path.GetExtension(name) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                _ => "application/octet-stream",
            };
            files[name] = (copy.ToArray(), type);
        }

        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
