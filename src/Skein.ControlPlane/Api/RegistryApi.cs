using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Registry;

namespace Skein.ControlPlane.Api;

/// <summary>
/// <c>/api/v1/registry</c>: the local runtime registers each running replica
/// (<c>POST /api/v1/registry/instances</c>, see <see cref="RegistrationJson"/>; posting the same id again
/// replaces it, e.g. to change <c>healthy</c>) and removes it (<c>DELETE /api/v1/registry/instances/{id}</c>).
/// <c>GET /api/v1/registry</c> lists services with their VIPs, host names, ports and endpoints (what the
/// runtime writes into each pod's hosts file) and every instance.
/// </summary>
internal static class RegistryApi
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/api/v1/registry/instances", async (HttpRequest request, InstanceRegistry registry, MeshState state) =>
        {
            var text = await ApiJson.ReadBodyAsync(request, 1024 * 1024);
            if (text is null)
            {
                return ApiJson.Error(StatusCodes.Status413PayloadTooLarge, "registration larger than 1 MiB");
            }

            InstanceRegistration? registration;
            string? error;
            try
            {
                using var doc = JsonDocument.Parse(text);
                (registration, error) = RegistrationJson.Parse(doc.RootElement);
            }
            catch (JsonException e)
            {
                return ApiJson.Error(StatusCodes.Status400BadRequest, $"invalid JSON: {e.Message}");
            }

            if (registration is null)
            {
                return ApiJson.Error(StatusCodes.Status400BadRequest, error ?? "invalid instance");
            }

            var changed = registry.Register(registration);
            return ApiJson.Write(StatusCodes.Status200OK, w =>
            {
                w.WriteStartObject();
                w.WriteString("id", registration.Id);
                w.WriteString("action", changed ? "registered" : "unchanged");
                w.WriteNumber("version", state.PendingVersion); // the version that will hold this change
                w.WriteEndObject();
            });
        });

        app.MapDelete("/api/v1/registry/instances/{id}", (string id, InstanceRegistry registry, MeshState state) =>
            registry.Deregister(id)
                ? ApiJson.Write(StatusCodes.Status200OK, w =>
                {
                    w.WriteStartObject();
                    w.WriteString("id", id);
                    w.WriteString("action", "deregistered");
                    w.WriteNumber("version", state.PendingVersion); // the version that will hold this change
                    w.WriteEndObject();
                })
                : ApiJson.Error(StatusCodes.Status404NotFound, $"instance {id} is not registered"));

        app.MapGet("/api/v1/registry", (MeshState state) =>
        {
            var snapshot = state.Current;
            return ApiJson.Write(StatusCodes.Status200OK, w =>
            {
                w.WriteStartObject();
                w.WriteNumber("version", snapshot.Version);
                w.WriteStartArray("services");
                foreach (var service in snapshot.Services)
                {
                    WriteService(w, service);
                }

                w.WriteEndArray();
                w.WriteStartArray("instances");
                foreach (var instance in snapshot.Instances)
                {
                    WriteInstance(w, instance);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            });
        });
    }

    private static void WriteService(Utf8JsonWriter w, MeshService service)
    {
        w.WriteStartObject();
        w.WriteString("host", service.Host);
        w.WriteString("name", service.Name);
        w.WriteString("namespace", service.Namespace);
        w.WriteString("kind", service.Kind.ToString());
        if (service.Vip is { } vip)
        {
            w.WriteString("vip", vip);
        }
        else
        {
            w.WriteNull("vip");
        }

        w.WriteStartArray("hostnames");
        foreach (var alias in service.HostAliases(null))
        {
            w.WriteStringValue(alias);
        }

        w.WriteEndArray();
        w.WriteStartArray("ports");
        foreach (var port in service.Ports)
        {
            w.WriteStartObject();
            if (port.Name is not null)
            {
                w.WriteString("name", port.Name);
            }

            w.WriteNumber("port", port.Port);
            w.WriteString("protocol", port.Protocol.Name());
            if (port.TargetPort is { } target)
            {
                w.WriteString("targetPort", target.ToString());
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("endpoints");
        foreach (var endpoint in service.Endpoints)
        {
            w.WriteStartObject();
            w.WriteString("address", endpoint.Address);
            w.WriteStartObject("ports");
            foreach (var (servicePort, targetPort) in endpoint.Ports)
            {
                w.WriteNumber(servicePort.ToString(System.Globalization.CultureInfo.InvariantCulture), targetPort);
            }

            w.WriteEndObject();
            w.WriteString("instance", endpoint.Instance.Id);
            w.WriteString("workload", endpoint.Instance.Workload);
            w.WriteBoolean("healthy", endpoint.Healthy);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteInstance(Utf8JsonWriter w, WorkloadInstance instance)
    {
        w.WriteStartObject();
        w.WriteString("id", instance.Id);
        w.WriteString("workload", instance.Workload);
        w.WriteString("namespace", instance.Namespace);
        w.WriteString("address", instance.Address);
        w.WriteString("source", instance.Source.ToString());
        w.WriteStartArray("ports");
        foreach (var p in instance.Ports)
        {
            w.WriteNumberValue(p.Port);
        }

        w.WriteEndArray();
        w.WriteStartObject("labels");
        foreach (var (k, v) in instance.Labels)
        {
            w.WriteString(k, v);
        }

        w.WriteEndObject();
        w.WriteString("serviceAccount", instance.ServiceAccount);
        w.WriteBoolean("healthy", instance.Healthy);
        w.WriteBoolean("sidecar", instance.HasSidecar);
        if (instance.SidecarInboundAddress is { } inbound)
        {
            w.WriteString("sidecarInboundAddress", inbound);
        }

        w.WriteEndObject();
    }
}
