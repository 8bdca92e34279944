namespace Skein.Api.Model;

/// <summary>Where a resource or value was written: file and 1-based line and column.</summary>
public sealed record SourceLocation(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}

/// <summary>Where each field path of one document was written ("spec.http[0].route[1].weight" → 14:9).</summary>
public sealed class SourceMap(string file, IReadOnlyDictionary<string, (int Line, int Column)> positions)
{
    public string File { get; } = file;

    /// <summary>The position of a path, or of its nearest ancestor that was written.</summary>
    public SourceLocation? Locate(string path)
    {
        var current = path;
        while (current.Length > 0)
        {
            if (positions.TryGetValue(current, out var p))
            {
                return new SourceLocation(File, p.Line, p.Column);
            }

            var cut = Math.Max(current.LastIndexOf('.'), current.LastIndexOf('['));
            current = cut <= 0 ? "" : current[..cut];
        }

        return null;
    }
}

/// <summary>Kubernetes object metadata; only the fields a mesh uses, the rest are errors.</summary>
public sealed record ObjectMeta
{
    [Required, Format(ValueFormat.DnsName)]
    public string? Name { get; init; }

    [Format(ValueFormat.DnsName)]
    public string? Namespace { get; init; }

    [Format(ValueFormat.Labels)]
    public IReadOnlyDictionary<string, string>? Labels { get; init; }

    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    public string? Uid { get; init; }

    public string? ResourceVersion { get; init; }

    public long? Generation { get; init; }

    public string? CreationTimestamp { get; init; }
}

/// <summary>One configuration document: a kind with metadata and a spec.</summary>
public abstract record Resource
{
    public string ApiVersion { get; init; } = "";

    public string Kind { get; init; } = "";

    [Required]
    public ObjectMeta? Metadata { get; init; }

    /// <summary>Where the document starts; set by the loader, never read from YAML.</summary>
    [NotInYaml]
    public SourceLocation? Source { get; init; }

    /// <summary>Positions of the fields as written, for pointing at them in later findings.</summary>
    [NotInYaml]
    public SourceMap? SourceMap { get; init; }

    public string Name => Metadata?.Name ?? "";

    public string Namespace => Metadata?.Namespace ?? "default";

    /// <summary>"Kind namespace/name", how messages name a resource.</summary>
    public string DisplayName => $"{Kind} {Namespace}/{Name}";

    public abstract object? SpecObject { get; }
}

/// <summary>A resource with a typed spec.</summary>
public abstract record Resource<TSpec> : Resource
    where TSpec : class
{
    [Required]
    public TSpec? Spec { get; init; }

    public override object? SpecObject => Spec;
}

/// <summary>The property is set by the loader, not bound from or written to YAML.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class NotInYamlAttribute : Attribute;
