using Skein.Api.Model;
using Skein.Api.Validation;

namespace Skein.Api.Loading;

/// <summary>What loading produced: the resources that bound cleanly and every diagnostic.</summary>
public sealed record LoadResult(IReadOnlyList<Resource> Resources, IReadOnlyList<Diagnostic> Diagnostics)
{
    public bool HasErrors => Diagnostics.Any(d => d.Severity == Severity.Error);
}

/// <summary>
/// Reads multi-document YAML and JSON files and directories into config records. Never throws
/// on bad input: every problem becomes a <see cref="Diagnostic"/> with file, line, column and
/// field path, and a document with errors is left out of the result.
/// </summary>
public static class ConfigLoader
{
    private static readonly string[] Extensions = [".yaml", ".yml", ".json"];

    /// <summary>
    /// Loads files and directories. As with <c>kubectl apply -f</c>, a directory contributes its own
    /// files only, unless <paramref name="recursive"/> is set.
    /// </summary>
    public static LoadResult LoadPaths(IEnumerable<string> paths, bool recursive = false)
    {
        var resources = new List<Resource>();
        var diagnostics = new List<Diagnostic>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                var files = Directory.EnumerateFiles(path, "*", recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly)
                    .Where(f => Extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                    .Order(StringComparer.Ordinal);
                foreach (var file in files)
                {
                    LoadFile(file, resources, diagnostics);
                }
            }
            else
            {
                LoadFile(path, resources, diagnostics);
            }
        }

        return new LoadResult(resources, diagnostics);
    }

    /// <summary>Loads YAML or JSON text; <paramref name="fileName"/> names it in diagnostics.</summary>
    public static LoadResult LoadText(string text, string fileName)
    {
        var resources = new List<Resource>();
        var diagnostics = new List<Diagnostic>();
        Load(text, fileName, resources, diagnostics);
        return new LoadResult(resources, diagnostics);
    }

    private static void LoadFile(string file, List<Resource> resources, List<Diagnostic> diagnostics)
    {
        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCodes.ReadFailed, new SourceLocation(file, 1, 1), "", $"cannot read: {ex.Message}"));
            return;
        }

        Load(text, file, resources, diagnostics);
    }

    private static void Load(string text, string fileName, List<Resource> resources, List<Diagnostic> diagnostics)
    {
        var problems = new List<YamlProblem>();
        var documents = YamlTreeReader.ReadDocuments(text, problems);
        var json = fileName.EndsWith(".json", StringComparison.OrdinalIgnoreCase);
        foreach (var problem in problems)
        {
            // JSON is read as YAML (a superset); call its syntax errors what the user wrote.
            var message = json ? problem.Message.Replace("invalid YAML:", "invalid JSON:", StringComparison.Ordinal) : problem.Message;
            diagnostics.Add(new Diagnostic(Severity.Error, problem.Code, new SourceLocation(fileName, problem.Line, problem.Column), "", message));
        }

        var binder = new Binder(fileName, diagnostics);
        foreach (var document in documents)
        {
            if (document is null or YScalar { IsNull: true })
            {
                continue;
            }

            var before = diagnostics.Count(d => d.Severity == Severity.Error);
            var resource = binder.BindDocument(document);
            if (resource is not null && diagnostics.Count(d => d.Severity == Severity.Error) == before)
            {
                resources.Add(resource);
            }
        }
    }
}
