using System.Collections.Immutable;
using System.Net;
using System.Text.Json;
using Google.Protobuf;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;

namespace Skein.Proxy.Discovery;

/// <summary>An Envoy-like bootstrap: node, static resources, the ADS server and the admin address.</summary>
internal sealed record Bootstrap(
    Node Node,
    IPEndPoint? AdminAddress,
    ImmutableArray<Listener> Listeners,
    ImmutableArray<Cluster> Clusters,
    ImmutableArray<Secret> Secrets,
    Uri? AdsAddress)
{
    public static Bootstrap Empty { get; } = new(new Node(), null, [], [], [], null);
}

/// <summary>A bootstrap file that cannot be used; the message names the field.</summary>
internal sealed class BootstrapException(string message) : Exception(message)
{
    public BootstrapException()
        : this("invalid bootstrap")
    {
    }

    public BootstrapException(string message, Exception inner)
        : this(message + ": " + inner.Message)
    {
    }
}

/// <summary>Loads the bootstrap JSON. Unknown fields are errors, as in Envoy; xDS resources parse with the strict xDS JSON parser.</summary>
internal static class BootstrapLoader
{
    private static readonly JsonParser Parser =
        new(JsonParser.Settings.Default.WithTypeRegistry(XdsTypeRegistry.Instance).WithIgnoreUnknownFields(false));

    public static Bootstrap Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BootstrapException($"{path}: {e.Message}");
        }

        return Parse(text, path);
    }

    public static Bootstrap Parse(string json, string source = "bootstrap")
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new BootstrapException($"{source}: invalid JSON at line {e.LineNumber + 1}: {e.Message}");
        }

        using (doc)
        {
            var root = doc.RootElement;
            Expect(root, JsonValueKind.Object, source, "(root)");
            Known(root, source, string.Empty, "node", "static_resources", "dynamic_resources", "admin");

            var node = root.TryGetProperty("node", out var n) ? ParseMessage<Node>(n, source, "node") : new Node();
            var listeners = ImmutableArray.CreateBuilder<Listener>();
            var clusters = ImmutableArray.CreateBuilder<Cluster>();
            var secrets = ImmutableArray.CreateBuilder<Secret>();
            if (root.TryGetProperty("static_resources", out var sr))
            {
                Expect(sr, JsonValueKind.Object, source, "static_resources");
                Known(sr, source, "static_resources.", "listeners", "clusters", "secrets");
                Each(sr, "listeners", source, (e, p) => listeners.Add(ParseMessage<Listener>(e, source, p)));
                Each(sr, "clusters", source, (e, p) => clusters.Add(ParseMessage<Cluster>(e, source, p)));
                Each(sr, "secrets", source, (e, p) => secrets.Add(ParseMessage<Secret>(e, source, p)));
            }

            Uri? ads = null;
            if (root.TryGetProperty("dynamic_resources", out var dr))
            {
                ads = ParseDynamic(dr, source, clusters);
            }

            IPEndPoint? admin = null;
            if (root.TryGetProperty("admin", out var a))
            {
                Known(a, source, "admin.", "address", "access_log_path", "access_log");
                if (a.TryGetProperty("address", out var addr))
                {
                    var sa = ParseMessage<Address>(addr, source, "admin.address").SocketAddress;
                    if (sa is null || !IPAddress.TryParse(sa.Address, out var ip))
                    {
                        throw new BootstrapException($"{source}: admin.address.socket_address: an IP address is required");
                    }

                    admin = new IPEndPoint(ip, (int)sa.PortValue);
                }
            }

            return new Bootstrap(node, admin, listeners.ToImmutable(), clusters.ToImmutable(), secrets.ToImmutable(), ads);
        }
    }

    private static Uri? ParseDynamic(JsonElement dr, string source, ImmutableArray<Cluster>.Builder clusters)
    {
        Expect(dr, JsonValueKind.Object, source, "dynamic_resources");
        Known(dr, source, "dynamic_resources.", "ads_config", "cds_config", "lds_config");
        foreach (var name in new[] { "cds_config", "lds_config" })
        {
            if (dr.TryGetProperty(name, out var cs)
                && ParseMessage<ConfigSource>(cs, source, "dynamic_resources." + name).ConfigSourceSpecifierCase != ConfigSource.ConfigSourceSpecifierOneofCase.Ads)
            {
                throw new BootstrapException($"{source}: dynamic_resources.{name}: only ads is supported");
            }
        }

        if (!dr.TryGetProperty("ads_config", out var ads))
        {
            return null;
        }

        const string where = "dynamic_resources.ads_config";
        Known(ads, source, where + ".", "api_type", "transport_api_version", "grpc_services", "set_node_on_first_message_only");
        if (ads.TryGetProperty("api_type", out var api) && api.GetString() is not ("GRPC" or "AGGREGATED_GRPC"))
        {
            throw new BootstrapException($"{source}: {where}.api_type: only GRPC is supported");
        }

        if (!ads.TryGetProperty("grpc_services", out var services) || services.ValueKind != JsonValueKind.Array || services.GetArrayLength() == 0)
        {
            throw new BootstrapException($"{source}: {where}.grpc_services: one gRPC service is required");
        }

        var svc = services[0];
        Known(svc, source, where + ".grpc_services[0].", "envoy_grpc", "google_grpc", "timeout");
        if (svc.TryGetProperty("google_grpc", out var g))
        {
            var target = g.TryGetProperty("target_uri", out var t) ? t.GetString() : null;
            if (string.IsNullOrEmpty(target))
            {
                throw new BootstrapException($"{source}: {where}.grpc_services[0].google_grpc.target_uri: is required");
            }

            return new Uri(target.Contains("://", StringComparison.Ordinal) ? target : "http://" + target);
        }

        if (svc.TryGetProperty("envoy_grpc", out var e) && e.TryGetProperty("cluster_name", out var cn))
        {
            var name = cn.GetString();
            foreach (var c in clusters)
            {
                if (c.Name == name && c.LoadAssignment?.Endpoints.Count > 0 && c.LoadAssignment.Endpoints[0].LbEndpoints.Count > 0)
                {
                    var sa = c.LoadAssignment.Endpoints[0].LbEndpoints[0].Endpoint.Address.SocketAddress;
                    var host = sa.Address.Contains(':', StringComparison.Ordinal) ? $"[{sa.Address}]" : sa.Address;
                    return new Uri($"http://{host}:{sa.PortValue}");
                }
            }

            throw new BootstrapException($"{source}: {where}.grpc_services[0].envoy_grpc.cluster_name: no static cluster \"{name}\" with an endpoint");
        }

        throw new BootstrapException($"{source}: {where}.grpc_services[0]: envoy_grpc or google_grpc is required");
    }

    private static T ParseMessage<T>(JsonElement element, string source, string path)
        where T : IMessage, new()
    {
        try
        {
            return (T)Parser.Parse(element.GetRawText(), new T().Descriptor);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidJsonException or FormatException or InvalidOperationException)
        {
            throw new BootstrapException($"{source}: {path}: {e.Message}");
        }
    }

    private static void Each(JsonElement parent, string name, string source, Action<JsonElement, string> parse)
    {
        if (!parent.TryGetProperty(name, out var array))
        {
            return;
        }

        Expect(array, JsonValueKind.Array, source, "static_resources." + name);
        var i = 0;
        foreach (var e in array.EnumerateArray())
        {
            parse(e, $"static_resources.{name}[{i++}]");
        }
    }

    private static void Expect(JsonElement e, JsonValueKind kind, string source, string path)
    {
        if (e.ValueKind != kind)
        {
            throw new BootstrapException($"{source}: {path}: expected {kind.ToString().ToLowerInvariant()}, found {e.ValueKind.ToString().ToLowerInvariant()}");
        }
    }

    private static void Known(JsonElement e, string source, string prefix, params string[] names)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new BootstrapException($"{source}: {prefix.TrimEnd('.')}: expected object");
        }

        foreach (var p in e.EnumerateObject())
        {
            if (Array.IndexOf(names, p.Name) < 0)
            {
                throw new BootstrapException($"{source}: {prefix}{p.Name}: unknown field");
            }
        }
    }
}
