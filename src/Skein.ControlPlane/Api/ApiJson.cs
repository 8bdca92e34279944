using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Skein.Api.Validation;

namespace Skein.ControlPlane.Api;

/// <summary>JSON answers of the HTTP API, written with <see cref="Utf8JsonWriter"/> (no reflection).</summary>
internal static class ApiJson
{
    public static IResult Write(int status, Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            body(w);
        }

        return Results.Text(Encoding.UTF8.GetString(stream.ToArray()) + "\n", "application/json", Encoding.UTF8, status);
    }

    public static IResult Error(int status, string message) => Write(status, w =>
    {
        w.WriteStartObject();
        w.WriteString("error", message);
        w.WriteEndObject();
    });

    /// <summary>A diagnostic as <c>{code, file, line, column, path, message, severity, resource}</c>.</summary>
    public static void Diagnostic(Utf8JsonWriter w, Diagnostic d)
    {
        w.WriteStartObject();
        w.WriteString("code", d.Code);
        w.WriteString("file", d.Location?.File ?? "");
        w.WriteNumber("line", d.Location?.Line ?? 0);
        w.WriteNumber("column", d.Location?.Column ?? 0);
        w.WriteString("path", d.Path);
        w.WriteString("message", d.Message);
        w.WriteString("severity", d.Severity.ToString().ToLowerInvariant());
        if (d.Resource is not null)
        {
            w.WriteString("resource", d.Resource);
        }

        w.WriteString("text", d.ToString());
        w.WriteEndObject();
    }

    public static void Diagnostics(Utf8JsonWriter w, string name, IEnumerable<Diagnostic> diagnostics)
    {
        w.WriteStartArray(name);
        foreach (var d in diagnostics)
        {
            Diagnostic(w, d);
        }

        w.WriteEndArray();
    }

    public static void Time(Utf8JsonWriter w, string name, DateTimeOffset? time)
    {
        if (time is { } t)
        {
            w.WriteString(name, t.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        }
        else
        {
            w.WriteNull(name);
        }
    }

    /// <summary>Reads the request body as text, up to <paramref name="limit"/> bytes.</summary>
    public static async Task<string?> ReadBodyAsync(HttpRequest request, int limit = 8 * 1024 * 1024)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
