using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Skein.Proxy.Runtime;
using Skein.Xds;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;

namespace Skein.Proxy.Admin;

/// <summary>
/// Writes <c>/config_dump</c> in the shape of Envoy's admin API (<c>ClustersConfigDump</c>, <c>ListenersConfigDump</c>,
/// <c>RoutesConfigDump</c>, <c>EndpointsConfigDump</c>, <c>SecretsConfigDump</c>) with each type's version and each
/// resource's version and last update. Private keys are redacted.
/// </summary>
internal static class ConfigDumpWriter
{
    private const string AdminPrefix = "type.googleapis.com/envoy.admin.v3.";

    public static string Write(RuntimeConfig config)
    {
        var r = config.Resources;
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("configs");
            Section(w, "ClustersConfigDump", r.Clusters, "static_clusters", "dynamic_active_clusters", "cluster");
            Section(w, "EndpointsConfigDump", r.Endpoints, "static_endpoint_configs", "dynamic_endpoint_configs", "endpoint_config");
            Section(w, "ListenersConfigDump", r.Listeners, "static_listeners", "dynamic_listeners", "listener");
            Section(w, "RoutesConfigDump", r.Routes, "static_route_configs", "dynamic_route_configs", "route_config");
            Section(w, "SecretsConfigDump", r.Secrets, "static_secrets", "dynamic_active_secrets", "secret");
            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void Section(Utf8JsonWriter w, string type, XdsTypeState state, string staticName, string dynamicName, string field)
    {
        w.WriteStartObject();
        w.WriteString("@type", AdminPrefix + type);
        w.WriteString("version_info", state.Version);
        foreach (var isStatic in new[] { true, false })
        {
            w.WriteStartArray(isStatic ? staticName : dynamicName);
            foreach (var res in state.Resources)
            {
                if (res.IsStatic != isStatic)
                {
                    continue;
                }

                w.WriteStartObject();
                if (!isStatic)
                {
                    w.WriteString("version_info", res.Version);
                }

                if (field == "listener" && !isStatic)
                {
                    // Envoy nests dynamic listeners: { name, active_state: { version_info, listener, last_updated } }.
                    w.WriteString("name", res.Name);
                    w.WriteStartObject("active_state");
                    w.WriteString("version_info", res.Version);
                    Resource(w, field, res);
                    w.WriteEndObject();
                }
                else
                {
                    if (field == "secret")
                    {
                        w.WriteString("name", res.Name);
                    }

                    Resource(w, field, res);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    private static void Resource(Utf8JsonWriter w, string field, XdsResource res)
    {
        var message = res.Message;
        if (message is Secret secret && secret.TlsCertificate?.PrivateKey is not null)
        {
            secret = secret.Clone();
            secret.TlsCertificate.PrivateKey = new Skein.Xds.Envoy.Config.Core.V3.DataSource { InlineString = "[redacted]" };
            message = secret;
        }

        w.WritePropertyName(field);
        w.WriteRawValue(XdsTypeRegistry.JsonFormatter.Format(XdsAny.Pack(message)));
        w.WriteString("last_updated", res.LastUpdated.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
    }
}
