namespace Skein.Api.Model;

/// <summary>A reference to the resource a policy attaches to (Gateway API style targetRef).</summary>
public sealed record PolicyTargetReference : IValidatable
{
    /// <summary>The API group of the target; empty for core resources such as Service.</summary>
    public string? Group { get; init; }

    /// <summary>The kind of the target, e.g. Service, ServiceEntry or Gateway.</summary>
    [Required]
    public string? Kind { get; init; }

    /// <summary>The name of the target.</summary>
    [Required]
    public string? Name { get; init; }

    /// <summary>Must be empty: the target is always in the policy's own namespace.</summary>
    public string? Namespace { get; init; }

    /// <summary>The group, with "" for core resources.</summary>
    internal string CanonicalGroup => Group is null or "core" ? "" : Group;

    void IValidatable.Validate(ValidationContext context)
    {
        if (!string.IsNullOrEmpty(Namespace))
        {
            context.Error("namespace", "cross-namespace references are not supported; the target must be in the policy's namespace");
        }
    }

    /// <summary>Reports a target whose group and kind is not one of <paramref name="allowed"/>.</summary>
    internal void RequireKind(ValidationContext context, string path, params (string Group, string Kind)[] allowed)
    {
        if (Kind is null || allowed.Contains((CanonicalGroup, Kind)))
        {
            return;
        }

        var names = string.Join(", ", allowed.Select(a => a.Group.Length == 0 ? a.Kind : $"{a.Kind} ({a.Group})"));
        var got = CanonicalGroup.Length == 0 ? Kind : $"{CanonicalGroup}/{Kind}";
        context.Error(path, $"must refer to one of {names}, got {got}");
    }
}
