using System.CommandLine;
using System.Text.Json;
using Skein.Cli.Local;

namespace Skein.Cli.Commands;

/// <summary>
/// Finds skein-control's HTTP API for the verbs that talk to it: --control-plane, then
/// $SKEIN_CONTROL_PLANE, then the local mesh's run state, then http://127.0.0.1:15014.
/// </summary>
internal static class ControlPlaneConnection
{
    public const string DefaultUrl = "http://127.0.0.1:15014";

    public static JsonSerializerOptions Indented { get; } = new() { WriteIndented = true };

    public static Option<string?> Option() => new("--control-plane")
    {
        Description = $"skein-control's HTTP API (default: $SKEIN_CONTROL_PLANE, the local mesh started by `skein up`, or {DefaultUrl}).",
    };

    public static string Resolve(string? explicitUrl, string? runDir = null)
    {
        if (!string.IsNullOrEmpty(explicitUrl))
        {
            return explicitUrl;
        }

        if (Environment.GetEnvironmentVariable("SKEIN_CONTROL_PLANE") is { Length: > 0 } fromEnv)
        {
            return fromEnv;
        }

        var (state, _) = StateStore.Load(LocalOptions.ResolveRunDir(runDir));
        return state?.ControlApi is { Length: > 0 } local ? local : DefaultUrl;
    }

    public static HttpClient Client(string baseUrl) =>
        new(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(15) };

    /// <summary>GETs JSON, or prints why the control plane cannot be reached and returns null.</summary>
    public static async Task<JsonDocument?> GetJsonAsync(HttpClient http, string path, CancellationToken cancel)
    {
        try
        {
            using var response = await http.GetAsync(path, cancel).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                Console.Error.WriteLine($"skein: {http.BaseAddress}{path.TrimStart('/')}: {(int)response.StatusCode} {ErrorText(body)}");
                return null;
            }

            return JsonDocument.Parse(body);
        }
        catch (HttpRequestException ex)
        {
            Console.Error.WriteLine($"skein: cannot reach the control plane at {http.BaseAddress}: {ex.Message}");
            return null;
        }
    }

    public static string ErrorText(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("error", out var e) ? e.GetString() ?? body : body;
        }
        catch (JsonException)
        {
            return body;
        }
    }
}
