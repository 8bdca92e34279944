using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Skein.Interop.Tests.Infrastructure;

/// <summary>One bookstore <c>ratings</c> instance: its <c>x-served-by</c> value and the loopback port it serves gRPC on.</summary>
internal sealed record RatingsInstance(string Name, string Version, int Port)
{
    /// <summary>What the bookstore stamps on every response: role-version-instance.</summary>
    public string ServedBy => $"ratings-{Version}-{Name}";

    public string Id => $"ratings-{Name}";
}

/// <summary>
/// A real skein-control (ADS on a free loopback port) configured with the <c>ratings</c> gRPC service, its
/// subsets v1 and v2 and a VirtualService (<c>end-user: jason</c> → v2, else 80/20 v1/v2), and three real
/// bookstore <c>ratings</c> processes registered as its endpoints (two v1, one v2) at 127.0.0.1 and their
/// own ports. Started once for the test class; every child process is killed in <see cref="DisposeAsync"/>.
/// </summary>
public sealed partial class InteropMesh : IAsyncLifetime, IDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    /// <summary>A cap on skein-control's life should the test host die without disposing it (it has no --parent-pid).</summary>
    private const string ControlPlaneLifetimeCap = "900";

    public const string Config = """
        apiVersion: v1
        kind: Service
        metadata:
          name: ratings
        spec:
          selector:
            app: ratings
          ports:
            - name: grpc
              port: 9080
              targetPort: grpc
              appProtocol: grpc
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: ratings
        spec:
          host: ratings
          subsets:
            - name: v1
              labels:
                version: v1
            - name: v2
              labels:
                version: v2
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: ratings
        spec:
          hosts:
            - ratings
          http:
            - match:
                - headers:
                    end-user:
                      exact: jason
              route:
                - destination:
                    host: ratings
                    subset: v2
            - route:
                - destination:
                    host: ratings
                    subset: v1
                  weight: 80
                - destination:
                    host: ratings
                    subset: v2
                  weight: 20
        """;

    private readonly List<ChildProcess> _processes = [];
    private readonly HttpClient _api = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(15) };
    private ChildProcess? _control;

    /// <summary>Client bootstrap files, client output with grpc-js traces, and every child's log.</summary>
    public string LogDirectory { get; } = Path.Combine(AppContext.BaseDirectory, "interop-logs");

    public int XdsPort { get; private set; }

    public int HttpPort { get; private set; }

    /// <summary>The VIP skein-control allocated to ratings.</summary>
    public string Vip { get; private set; } = "";

    internal IReadOnlyList<RatingsInstance> Instances { get; private set; } = [];

    public async Task InitializeAsync()
    {
        try
        {
            if (Directory.Exists(LogDirectory))
            {
                Directory.Delete(LogDirectory, recursive: true);
            }

            Directory.CreateDirectory(LogDirectory);
            var install = NodeClient.InstallAsync(LogDirectory);
            var control = StartControlPlaneAsync();
            var ratings = Task.WhenAll(
                StartRatingsAsync("a", "v1"),
                StartRatingsAsync("b", "v1"),
                StartRatingsAsync("c", "v2"));
            await Task.WhenAll(install, control, ratings);
            Instances = await ratings;

            await PostAsync("/api/v1/config?file=interop.yaml", Config, "application/yaml");
            foreach (var instance in Instances)
            {
                var registration = new JsonObject
                {
                    ["id"] = instance.Id,
                    ["workload"] = $"ratings-{instance.Version}",
                    ["namespace"] = "default",
                    ["address"] = "127.0.0.1",
                    ["ports"] = new JsonArray(new JsonObject { ["name"] = "grpc", ["port"] = instance.Port, ["protocol"] = "GRPC" }),
                    ["labels"] = new JsonObject { ["app"] = "ratings", ["version"] = instance.Version },
                    ["serviceAccount"] = "ratings",
                    ["healthy"] = true,
                };
                await PostAsync("/api/v1/registry/instances", registration.ToJsonString(), "application/json");
            }

            Vip = await CheckRegistryAsync();
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }

        _processes.Clear();
        Dispose();
    }

    public void Dispose() => _api.Dispose();

    /// <summary><c>GET /api/v1/proxies</c>: the entry of one xDS client.</summary>
    public async Task<JsonObject?> ProxyStatusAsync(string nodeId)
    {
        var all = JsonNode.Parse(await GetAsync("/api/v1/proxies"))!["proxies"]!.AsArray();
        return all.OfType<JsonObject>().FirstOrDefault(p => (string?)p["id"] == nodeId);
    }

    /// <summary><c>GET /api/v1/proxies/{id}/config?type=...</c>: the resources the client ACKed.</summary>
    public async Task<JsonObject> ProxyConfigAsync(string nodeId, string type) =>
        JsonNode.Parse(await GetAsync($"/api/v1/proxies/{Uri.EscapeDataString(nodeId)}/config?type={type}"))!.AsObject();

    /// <summary>skein-control's last log lines.</summary>
    public string ControlPlaneLog(int lines = 40) => _control?.Tail(lines) ?? "(not started)";

    internal async Task<string> GetAsync(string path)
    {
        using var response = await _api.GetAsync(new Uri($"http://127.0.0.1:{HttpPort}{path}"));
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"GET {path}: {(int)response.StatusCode}\n{body}");
        }

        return body;
    }

    private async Task PostAsync(string path, string body, string mediaType)
    {
        using var content = new StringContent(body, Encoding.UTF8, mediaType);
        using var response = await _api.PostAsync(new Uri($"http://127.0.0.1:{HttpPort}{path}"), content);
        var answer = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"POST {path}: {(int)response.StatusCode}\n{answer}");
        }
    }

    private async Task StartControlPlaneAsync()
    {
        var environment = ChildProcess.ProxyVariables.ToDictionary(v => v, string? (_) => null);
        environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        environment["ASPNETCORE_URLS"] = null;
        _control = Track(ChildProcess.Start(
            "skein-control",
            "timeout",
            [
                "--kill-after=5", ControlPlaneLifetimeCap, "dotnet", Path.Combine(AppContext.BaseDirectory, "skein-control.dll"),
                "--xds-address", "127.0.0.1", "--xds-port", "0", "--secure-xds-port", "0",
                "--http-address", "127.0.0.1", "--http-port", "0",
                "--push-debounce", "20ms",
            ],
            environment,
            logFile: Path.Combine(LogDirectory, "skein-control.log")));
        var started = await _control.WaitForLineAsync(ControlPlaneStarted(), StartTimeout);
        XdsPort = int.Parse(started.Groups["xds"].Value, System.Globalization.CultureInfo.InvariantCulture);
        HttpPort = int.Parse(started.Groups["http"].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task<RatingsInstance> StartRatingsAsync(string name, string version)
    {
        var environment = ChildProcess.ProxyVariables.ToDictionary(v => v, string? (_) => null);
        foreach (var variable in (string[])["BOOKSTORE_ROLE", "PORT", "BOOKSTORE_LISTEN", "VERSION", "INSTANCE", "FAIL_PERCENT", "FAIL_STATUS", "DELAY_MS", "ASPNETCORE_URLS"])
        {
            environment[variable] = null;
        }

        environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var process = Track(ChildProcess.Start(
            $"bookstore ratings {version} {name}",
            "dotnet",
            [
                Path.Combine(AppContext.BaseDirectory, "bookstore.dll"),
                "--role", "ratings", "--version", version, "--instance", name,
                "--listen", "127.0.0.1", "--port", "0", "--quiet",
                "--parent-pid", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ],
            environment,
            logFile: Path.Combine(LogDirectory, $"ratings-{name}.log")));
        var listening = await process.WaitForLineAsync(BookstoreListening(), StartTimeout);
        return new RatingsInstance(name, version, int.Parse(listening.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>The registry must hold ratings with one endpoint per instance at 127.0.0.1 and the instance's own port.</summary>
    private async Task<string> CheckRegistryAsync()
    {
        var registry = JsonNode.Parse(await GetAsync("/api/v1/registry"))!;
        var service = registry["services"]!.AsArray().OfType<JsonObject>().Single(s => (string?)s["name"] == "ratings");
        var endpoints = service["endpoints"]!.AsArray().OfType<JsonObject>()
            .Select(e => $"{(string?)e["instance"]}={(string?)e["address"]}:{(int?)e["ports"]?["9080"]}")
            .Order(StringComparer.Ordinal)
            .ToArray();
        var expected = Instances.Select(i => $"{i.Id}=127.0.0.1:{i.Port}").Order(StringComparer.Ordinal).ToArray();
        if (!endpoints.SequenceEqual(expected))
        {
            throw new InvalidOperationException(
                $"the registry's ratings endpoints are [{string.Join(", ", endpoints)}], expected [{string.Join(", ", expected)}]:\n"
                + registry.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }

        return (string?)service["vip"] ?? throw new InvalidOperationException("ratings has no VIP");
    }

    private ChildProcess Track(ChildProcess process)
    {
        lock (_processes)
        {
            _processes.Add(process);
        }

        return process;
    }

    [GeneratedRegex(@"skein-control started: xds=[^ ]*:(?<xds>\d+) http=[^ ]*:(?<http>\d+)")]
    private static partial Regex ControlPlaneStarted();

    [GeneratedRegex(@"bookstore ratings v\d listening on http://127\.0\.0\.1:(?<port>\d+)")]
    private static partial Regex BookstoreListening();
}

[CollectionDefinition(Name)]
public sealed class InteropCollection : ICollectionFixture<InteropMesh>
{
    public const string Name = "interop";
}
