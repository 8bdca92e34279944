using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Skein.ControlPlane.Telemetry;
using Skein.ControlPlane.Xds;
using Skein.Xds;

namespace Skein.ControlPlane.Api;

/// <summary>
/// What <c>skein proxy-status</c> and <c>skein proxy-config</c> read.
/// <list type="bullet">
///   <item><c>GET /api/v1/proxies</c>: every connected proxy and those disconnected recently: node id, workload,
///         connected, per type the versions sent and ACKed, and the last NACK (type, version, message, time).</item>
///   <item><c>GET /api/v1/proxies/{id}/config?type=listeners|routes|clusters|endpoints</c>: the resources the proxy
///         runs (its last ACKed version) as xDS JSON; <c>{id}</c> may also be an instance id or a workload name.
///         Without <c>type</c>, all four.</item>
/// </list>
/// </summary>
internal static class ProxyApi
{
    private static readonly (string Name, string TypeUrl)[] Types =
    [
        ("clusters", TypeUrls.Cluster),
        ("endpoints", TypeUrls.ClusterLoadAssignment),
        ("listeners", TypeUrls.Listener),
        ("routes", TypeUrls.RouteConfiguration),
        ("secrets", TypeUrls.Secret),
    ];

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/proxies", (XdsServer server) => ApiJson.Write(StatusCodes.Status200OK, w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("proxies");
            foreach (var status in server.Proxies())
            {
                WriteStatus(w, status, server);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }));

        app.MapGet("/api/v1/proxies/{id}/config", (string id, HttpRequest request, XdsServer server) =>
        {
            var connection = server.FindProxy(id);
            if (connection is null)
            {
                return ApiJson.Error(StatusCodes.Status404NotFound, $"no proxy {id} (see /api/v1/proxies)");
            }

            var type = request.Query["type"].ToString();
            var selected = type.Length == 0
                ? Types.Take(4).ToArray()
                : Types.Where(t => t.Name == type || t.TypeUrl == type || t.Name.TrimEnd('s') == type).ToArray();
            if (selected.Length == 0)
            {
                return ApiJson.Error(StatusCodes.Status400BadRequest, "type must be listeners, routes, clusters or endpoints");
            }

            return ApiJson.Write(StatusCodes.Status200OK, w =>
            {
                w.WriteStartObject();
                w.WriteString("id", connection.Node.Id);
                w.WriteBoolean("connected", connection.Connected);
                foreach (var (name, typeUrl) in selected)
                {
                    var (version, resources) = connection.Acked(typeUrl);
                    w.WriteStartObject(name);
                    w.WriteString("typeUrl", typeUrl);
                    if (version is null)
                    {
                        w.WriteNull("version");
                    }
                    else
                    {
                        w.WriteString("version", version);
                    }

                    w.WriteStartArray("resources");
                    foreach (var resource in resources)
                    {
                        w.WriteRawValue(XdsTypeRegistry.JsonFormatter.Format(resource.Message));
                    }

                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                w.WriteEndObject();
            });
        });
    }

    private static void WriteStatus(Utf8JsonWriter w, ProxyStatus status, XdsServer server)
    {
        var node = status.Node;
        w.WriteStartObject();
        w.WriteString("id", node.Id);
        w.WriteString("connectionId", status.ConnectionId);
        var resolved = server.Cache.Resolve(server.CurrentSnapshot, node);
        w.WriteString("workload", resolved.WorkloadName ?? "");
        w.WriteString("namespace", resolved.Namespace);
        w.WriteString("instance", node.InstanceId ?? resolved.Instance?.Id ?? "");
        w.WriteString("mode", node.Mode.ToString().ToLowerInvariant());
        w.WriteString("peer", status.Peer);
        w.WriteBoolean("connected", status.Connected);
        ApiJson.Time(w, "connectedAt", status.ConnectedAt);
        ApiJson.Time(w, "disconnectedAt", status.DisconnectedAt);
        w.WriteStartObject("types");
        foreach (var t in status.Types)
        {
            w.WriteStartObject(ControlPlaneMetrics.ShortType(t.TypeUrl));
            WriteNullable(w, "sent", t.VersionSent);
            WriteNullable(w, "acked", t.VersionAcked);
            w.WriteBoolean("synced", t.Synced);
            w.WriteNumber("resources", t.ResourcesSent);
            if (t.Wildcard)
            {
                w.WriteString("subscribed", "*");
            }
            else
            {
                w.WriteNumber("subscribed", t.SubscribedNames);
            }

            ApiJson.Time(w, "sentAt", t.SentAt);
            ApiJson.Time(w, "ackedAt", t.AckedAt);
            w.WriteEndObject();
        }

        w.WriteEndObject();
        if (status.LastNack is { } nack)
        {
            w.WriteStartObject("lastNack");
            w.WriteString("type", ControlPlaneMetrics.ShortType(nack.TypeUrl));
            w.WriteString("version", nack.Version);
            w.WriteString("message", nack.Message);
            ApiJson.Time(w, "time", nack.Time);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("lastNack");
        }

        w.WriteEndObject();
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }
}
