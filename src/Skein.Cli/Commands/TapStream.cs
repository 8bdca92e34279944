using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using Skein.Cli.Local;

namespace Skein.Cli.Commands;

/// <summary>A sidecar's admin endpoint: inside the pod's network namespace (netns mode) or on the host (loopback mode).</summary>
internal sealed record TapTarget(string Pod, string? Netns, int AdminPort);

/// <summary>One request a sidecar saw (its access-log record) and the pod it came from.</summary>
internal sealed record TapEvent(string Pod, JsonElement Record);

/// <summary>
/// The live request stream of a workload's sidecars for `skein tap` and `skein top`: each pod's admin endpoint
/// <c>GET /tap</c> (127.0.0.1:15000 inside the pod, reached by creating the socket in the pod's network namespace;
/// the recorded admin port in loopback mode) streams one JSON access-log record per completed request; the pods'
/// streams are merged.
/// </summary>
internal static class TapStream
{
    /// <summary>The running pods of <paramref name="workload"/> (or the pod of that name) in the local mesh; an error text when there are none.</summary>
    public static (IReadOnlyList<TapTarget> Targets, string? Error) Resolve(string? runDir, string workload)
    {
        var dir = LocalOptions.ResolveRunDir(runDir);
        var (state, problem) = StateStore.Load(dir);
        if (state is null)
        {
            return ([], $"no local mesh is up ({problem}); tap reads the sidecars of a mesh started with `skein up` or `skein demo`");
        }

        var pods = state.Pods.Where(p => p.Workload == workload || p.Name == workload).ToList();
        if (pods.Count == 0)
        {
            return ([], $"no workload or pod {workload}; workloads: {string.Join(", ", state.Pods.Select(p => p.Workload).Distinct())}");
        }

        var targets = new List<TapTarget>();
        foreach (var pod in pods.Where(p => p.State == PodStates.Running))
        {
            if (state.Mode == RuntimeModes.Netns)
            {
                if (pod.Netns is not null)
                {
                    targets.Add(new TapTarget(pod.Name, pod.Netns, ProxyPorts.Default.Admin));
                }
            }
            else
            {
                targets.Add(new TapTarget(pod.Name, null, (pod.Ports ?? ProxyPorts.Default).Admin));
            }
        }

        if (targets.Count == 0)
        {
            return ([], $"no running pod of {workload}");
        }

        if (targets.Any(t => t.Netns is not null) && !Native.IsRoot)
        {
            return ([], "tapping sidecars inside network namespaces needs root (sudo)");
        }

        return (targets, null);
    }

    /// <summary>Merged records from every target until cancelled (or, with <paramref name="limit"/>, that many).</summary>
    public static async IAsyncEnumerable<TapEvent> ReadAsync(IReadOnlyList<TapTarget> targets, string query, Action<string> warn, [EnumeratorCancellation] CancellationToken cancel)
    {
        var channel = Channel.CreateBounded<TapEvent>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var readers = targets.Select(t => Task.Run(() => PumpAsync(t, query, channel.Writer, warn, stop.Token), stop.Token)).ToArray();
        _ = Task.WhenAll(readers).ContinueWith(_ => channel.Writer.TryComplete(), TaskScheduler.Default);
        try
        {
            await foreach (var e in channel.Reader.ReadAllAsync(cancel).ConfigureAwait(false))
            {
                yield return e;
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }
    }

    private static async Task PumpAsync(TapTarget target, string query, ChannelWriter<TapEvent> into, Action<string> warn, CancellationToken cancel)
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = async (_, ct) =>
            {
                var socket = target.Netns is null ? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) : NetnsSocket.CreateTcp(target.Netns);
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, target.AdminPort), ct).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
            BaseAddress = new Uri($"http://127.0.0.1:{target.AdminPort}"),
        };
        try
        {
            using var response = await http.GetAsync($"/tap{query}", HttpCompletionOption.ResponseHeadersRead, cancel).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                var body = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
                warn($"{target.Pod}: the sidecar refused the tap ({(int)response.StatusCode}): {body.Trim()}");
                return;
            }

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel).ConfigureAwait(false));
            while (await reader.ReadLineAsync(cancel).ConfigureAwait(false) is { } line)
            {
                if (line.Length == 0)
                {
                    continue;
                }

                try
                {
                    using var doc = JsonDocument.Parse(line);
                    await into.WriteAsync(new TapEvent(target.Pod, doc.RootElement.Clone()), cancel).ConfigureAwait(false);
                }
                catch (JsonException)
                {
                    warn($"{target.Pod}: skipped a line that is not JSON");
                }
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is HttpRequestException or IOException or SocketException)
        {
            warn($"{target.Pod}: cannot tap its sidecar: {e.Message}");
        }
    }

    /// <summary>The tap query string for the filters given.</summary>
    public static string Query(string? path, string? method, string? authority, string? direction)
    {
        var parts = new List<string>();
        void Add(string name, string? value)
        {
            if (!string.IsNullOrEmpty(value))
            {
                parts.Add($"{name}={Uri.EscapeDataString(value)}");
            }
        }

        Add("path", path);
        Add("method", method?.ToUpperInvariant());
        Add("authority", authority);
        Add("direction", direction);
        return parts.Count == 0 ? "" : "?" + string.Join('&', parts);
    }

    /// <summary>A request failed: 5xx, no response (0), or a gRPC status other than OK.</summary>
    public static bool Failed(JsonElement r)
    {
        var code = r.TryGetProperty("response_code", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32() : 0;
        var grpc = r.TryGetProperty("grpc_status", out var g) && g.ValueKind == JsonValueKind.Number ? g.GetInt32() : 0;
        return code == 0 || code >= 500 || grpc != 0;
    }
}
