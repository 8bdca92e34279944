using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Skein.Api.Loading;
using Skein.ControlPlane.ConfigStore;
using Skein.ControlPlane.Mesh;

namespace Skein.ControlPlane.Api;

/// <summary>
/// <c>/api/v1/config</c>, what <c>skein apply -f</c>, <c>skein delete -f</c> and <c>skein get</c> call.
/// <list type="bullet">
///   <item><c>POST</c> YAML (file name for messages in <c>?file=</c> or the <c>X-Skein-File</c> header): validated
///         as `skein analyze` validates the resulting config; 400 with every diagnostic and nothing applied on any
///         error, else 200 with <c>created</c>/<c>configured</c>/<c>unchanged</c> per resource.</item>
///   <item><c>DELETE</c> YAML: deletes the resources it names (200 with <c>deleted</c>/<c>not found</c>).</item>
///   <item><c>GET</c>: the effective config as YAML; <c>?kind=</c> and <c>?namespace=</c> filter.</item>
///   <item><c>GET /api/v1/config/status</c>: version, origin of each resource, and why the config directory was refused.</item>
/// </list>
/// </summary>
internal static class ConfigApi
{
    public const string FileHeader = "X-Skein-File";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/api/v1/config", async (HttpRequest request, MeshConfigStore store, MeshState state) =>
        {
            var text = await ApiJson.ReadBodyAsync(request);
            if (text is null)
            {
                return ApiJson.Error(StatusCodes.Status413PayloadTooLarge, "config larger than 8 MiB");
            }

            return Answer(store.Apply(text, FileName(request)), state);
        });

        app.MapDelete("/api/v1/config", async (HttpRequest request, MeshConfigStore store, MeshState state) =>
        {
            var text = await ApiJson.ReadBodyAsync(request);
            if (text is null)
            {
                return ApiJson.Error(StatusCodes.Status413PayloadTooLarge, "config larger than 8 MiB");
            }

            return Answer(store.Delete(text, FileName(request)), state);
        });

        app.MapGet("/api/v1/config", (HttpRequest request, MeshConfigStore store) =>
        {
            var kind = request.Query["kind"].ToString();
            var ns = request.Query["namespace"].ToString();
            var resources = store.Current.Resources
                .Where(r => (kind.Length == 0 || string.Equals(r.Kind, kind, StringComparison.OrdinalIgnoreCase))
                    && (ns.Length == 0 || r.Namespace == ns));
            return Results.Text(YamlWriter.Write(resources), "application/yaml");
        });

        app.MapGet("/api/v1/config/status", (MeshConfigStore store, MeshState state) => ApiJson.Write(200, w =>
        {
            var config = store.Current;
            w.WriteStartObject();
            w.WriteNumber("version", state.Current.Version);
            w.WriteNumber("configVersion", config.Version);
            w.WriteStartArray("resources");
            foreach (var (key, resource) in config.ByKey)
            {
                w.WriteStartObject();
                w.WriteString("kind", key.Kind);
                w.WriteString("namespace", key.Namespace);
                w.WriteString("name", key.Name);
                w.WriteString("origin", config.OriginOf(key) == ConfigOrigin.Api ? "api" : "directory");
                w.WriteString("source", resource.Source?.ToString() ?? "");
                w.WriteEndObject();
            }

            w.WriteEndArray();
            ApiJson.Diagnostics(w, "directoryErrors", store.DirectoryErrors);
            w.WriteEndObject();
        }));
    }

    private static string FileName(HttpRequest request)
    {
        var file = request.Query["file"].ToString();
        if (file.Length == 0)
        {
            file = request.Headers[FileHeader].ToString();
        }

        return file.Length == 0 ? "<api>" : file;
    }

    private static IResult Answer(ConfigResult result, MeshState state)
    {
        if (!result.Accepted)
        {
            return ApiJson.Write(StatusCodes.Status400BadRequest, w =>
            {
                w.WriteStartObject();
                w.WriteString("error", "config rejected: nothing was applied");
                ApiJson.Diagnostics(w, "diagnostics", result.Diagnostics);
                w.WriteEndObject();
            });
        }

        return ApiJson.Write(StatusCodes.Status200OK, w =>
        {
            w.WriteStartObject();
            w.WriteNumber("version", state.Current.Version);
            w.WriteStartArray("results");
            foreach (var change in result.Changes)
            {
                w.WriteStartObject();
                w.WriteString("kind", change.Key.Kind);
                w.WriteString("namespace", change.Key.Namespace);
                w.WriteString("name", change.Key.Name);
                w.WriteString("action", change.Action switch
                {
                    ConfigAction.Created => "created",
                    ConfigAction.Configured => "configured",
                    ConfigAction.Unchanged => "unchanged",
                    ConfigAction.Deleted => "deleted",
                    _ => "not found",
                });
                w.WriteEndObject();
            }

            w.WriteEndArray();
            ApiJson.Diagnostics(w, "warnings", result.Diagnostics);
            w.WriteEndObject();
        });
    }
}
