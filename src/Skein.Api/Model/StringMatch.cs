namespace Skein.Api.Model;

/// <summary>
/// How to match a string (Istio StringMatch): at most one of exact, prefix or regex. An empty
/// match (<c>{}</c>) is allowed where Istio gives it a meaning (header presence); the fields
/// that need a value check that themselves.
/// </summary>
[OneOf(nameof(Exact), nameof(Prefix), nameof(Regex))]
public sealed record StringMatch
{
    /// <summary>Matches the whole string.</summary>
    public string? Exact { get; init; }

    /// <summary>Matches strings that start with this value.</summary>
    public string? Prefix { get; init; }

    /// <summary>An RE2 regular expression that must match the whole string.</summary>
    [Format(ValueFormat.Regex)]
    public string? Regex { get; init; }

    /// <summary>True when none of exact, prefix or regex is set.</summary>
    internal bool IsEmpty => Exact is null && Prefix is null && Regex is null;

    /// <summary>Reports a match that must say what to match but is empty.</summary>
    internal static void RequireValue(ValidationContext context, string path, StringMatch? match)
    {
        if (match is { IsEmpty: true })
        {
            context.Error(path, "must set one of exact, prefix or regex");
        }
    }
}
