using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Skein.Cli.Local;

/// <summary>A workload instance as `skein up` registers it with the control plane.</summary>
internal sealed record InstanceRegistration
{
    public required string Id { get; init; }

    public required string Workload { get; init; }

    public required string Namespace { get; init; }

    public required string Address { get; init; }

    public required IReadOnlyList<InstancePort> Ports { get; init; }

    public required IReadOnlyDictionary<string, string> Labels { get; init; }

    public required string ServiceAccount { get; init; }

    public bool Healthy { get; init; }

    /// <summary>Loopback mode: where the instance's sidecar accepts inbound traffic ("127.0.0.1:15106"); endpoints point there.</summary>
    public string? SidecarInboundAddress { get; init; }

    /// <summary>False for a pod without a sidecar: other sidecars call it in plaintext.</summary>
    public bool Sidecar { get; init; } = true;
}

/// <summary>A port the instance's app listens on.</summary>
internal sealed record InstancePort(string? Name, int Port, string? Protocol);

/// <summary>The config was refused: the control plane's diagnostics, as it sent them.</summary>
internal sealed class ControlPlaneException(string message) : Exception(message);

/// <summary>The part of skein-control's HTTP API that `skein up` uses.</summary>
internal sealed class ControlPlaneClient(HttpClient http) : IDisposable
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public Uri BaseAddress => http.BaseAddress!;

    public static ControlPlaneClient Create(string baseUrl) =>
        new(new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(10) });

    /// <summary>True once the API answers.</summary>
    public async Task<bool> IsUpAsync(CancellationToken cancel)
    {
        try
        {
            using var response = await http.GetAsync("/api/v1/config", cancel).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancel.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Applies YAML (all documents at once); a 400 becomes an exception carrying its diagnostics.</summary>
    public async Task ApplyConfigAsync(string yaml, CancellationToken cancel)
    {
        using var content = new StringContent(yaml, Encoding.UTF8, "application/yaml");
        using var response = await http.PostAsync("/api/v1/config", content, cancel).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
            throw new ControlPlaneException($"skein-control refused the config ({(int)response.StatusCode}): {body}");
        }
    }

    /// <summary>Every service with a VIP, from GET /api/v1/registry.</summary>
    public async Task<IReadOnlyList<ServiceVip>> ServicesAsync(CancellationToken cancel)
    {
        var text = await http.GetStringAsync("/api/v1/registry", cancel).ConfigureAwait(false);
        return ParseServices(text);
    }

    public async Task RegisterAsync(InstanceRegistration instance, CancellationToken cancel)
    {
        using var response = await http.PostAsJsonAsync("/api/v1/registry/instances", instance, Json, cancel).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
            throw new ControlPlaneException($"skein-control refused instance {instance.Id} ({(int)response.StatusCode}): {body}");
        }
    }

    /// <summary>
    /// A bootstrap token for <paramref name="ns"/>/<paramref name="serviceAccount"/> (what the pod's sidecar presents to
    /// the CA) and the root certificate(s) to trust the CA with. The token is a secret: it is never logged.
    /// </summary>
    public async Task<(string Token, string RootCertPem)> BootstrapTokenAsync(string ns, string serviceAccount, CancellationToken cancel)
    {
        using var response = await http.PostAsJsonAsync("/api/v1/ca/tokens", new { @namespace = ns, serviceAccount }, Json, cancel).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new ControlPlaneException($"skein-control refused a token for {ns}/{serviceAccount} ({(int)response.StatusCode}): {body}");
        }

        using var document = JsonDocument.Parse(body);
        return (document.RootElement.GetProperty("token").GetString()!, document.RootElement.GetProperty("rootCertPem").GetString()!);
    }

    public async Task DeregisterAsync(string id, CancellationToken cancel)
    {
        using var response = await http.DeleteAsync($"/api/v1/registry/instances/{Uri.EscapeDataString(id)}", cancel).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.NotFound)
        {
            throw new ControlPlaneException($"skein-control could not remove instance {id} ({(int)response.StatusCode})");
        }
    }

    /// <summary>
    /// Reads services from the registry document: a "services" array (or a bare array) whose items
    /// have a host name ("hostname", "host", or "name" + "namespace") and a VIP ("vip", "address",
    /// or the first of "vips"/"addresses").
    /// </summary>
    public static IReadOnlyList<ServiceVip> ParseServices(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var items = root.ValueKind == JsonValueKind.Array ? root
            : root.TryGetProperty("services", out var services) && services.ValueKind == JsonValueKind.Array ? services
            : default;
        var result = new List<ServiceVip>();
        if (items.ValueKind != JsonValueKind.Array)
        {
            return result;
        }

        foreach (var item in items.EnumerateArray())
        {
            var host = String(item, "hostname") ?? String(item, "host");
            if (host is null && String(item, "name") is { } name)
            {
                host = $"{name}.{String(item, "namespace") ?? "default"}.svc.cluster.local";
            }

            var vip = String(item, "vip") ?? String(item, "address") ?? First(item, "vips") ?? First(item, "addresses");
            if (host is not null && vip is not null)
            {
                result.Add(new ServiceVip(host, vip));
            }
        }

        return result;
    }

    public void Dispose() => http.Dispose();

    private static string? String(JsonElement item, string name) =>
        item.ValueKind == JsonValueKind.Object && item.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string? First(JsonElement item, string name) =>
        item.ValueKind == JsonValueKind.Object && item.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Array
            && value.GetArrayLength() > 0 && value[0].ValueKind == JsonValueKind.String ? value[0].GetString() : null;
}
