using System.Globalization;
using System.Text.RegularExpressions;

namespace Skein.Proxy.Runtime;

/// <summary>How a <see cref="StringMatch"/> compares.</summary>
internal enum StringMatchKind
{
    Exact,
    Prefix,
    Suffix,
    Contains,
    Regex,
}

/// <summary>A compiled <c>envoy.type.matcher.v3.StringMatcher</c>.</summary>
internal sealed record StringMatch(StringMatchKind Kind, string Value, bool IgnoreCase, Regex? Pattern)
{
    public bool Matches(ReadOnlySpan<char> input)
    {
        var comparison = IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return Kind switch
        {
            StringMatchKind.Exact => input.Equals(Value, comparison),
            StringMatchKind.Prefix => input.StartsWith(Value, comparison),
            StringMatchKind.Suffix => input.EndsWith(Value, comparison),
            StringMatchKind.Contains => input.Contains(Value, comparison),
            _ => Pattern!.IsMatch(input),
        };
    }
}

/// <summary>Regular expressions with RE2 semantics as far as .NET allows: linear time, anchored on both ends.</summary>
internal static class SafeRegex
{
    /// <summary>Compiles <paramref name="pattern"/> for a full match (Envoy's <c>safe_regex</c> always matches the whole value).</summary>
    /// <exception cref="ConfigException">The pattern is not a valid (RE2-compatible) expression.</exception>
    public static Regex FullMatch(string pattern, bool ignoreCase = false) => Create(@"\A(?:" + pattern + @")\z", pattern, ignoreCase);

    /// <summary>Compiles <paramref name="pattern"/> for search and substitution (regex rewrites).</summary>
    public static Regex Search(string pattern) => Create(pattern, pattern, false);

    private static Regex Create(string anchored, string original, bool ignoreCase)
    {
        try
        {
            var options = RegexOptions.CultureInvariant | RegexOptions.NonBacktracking;
            if (ignoreCase)
            {
                options |= RegexOptions.IgnoreCase;
            }

            return new Regex(anchored, options);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            throw new ConfigException(string.Create(CultureInfo.InvariantCulture, $"invalid regex \"{original}\": {e.Message}"));
        }
    }
}

/// <summary>What a <see cref="HeaderMatch"/> checks.</summary>
internal enum HeaderMatchKind
{
    String,
    Present,
    Range,
}

/// <summary>A compiled <c>envoy.config.route.v3.HeaderMatcher</c>.</summary>
internal sealed record HeaderMatch(
    string Name,
    HeaderMatchKind Kind,
    StringMatch? String,
    bool PresentValue,
    long RangeStart,
    long RangeEnd,
    bool Invert,
    bool TreatMissingAsEmpty)
{
    /// <summary>Evaluates the matcher against the header's value (all values joined with ','), or null if absent.</summary>
    public bool Matches(string? value)
    {
        if (value is null && TreatMissingAsEmpty && Kind != HeaderMatchKind.Present)
        {
            value = string.Empty;
        }

        bool result;
        if (Kind == HeaderMatchKind.Present)
        {
            // present_match: true means "is present", false means "is absent".
            result = (value is not null) == PresentValue;
        }
        else if (value is null)
        {
            // A missing header never matches a value matcher, inverted or not (Envoy semantics).
            return false;
        }
        else if (Kind == HeaderMatchKind.Range)
        {
            result = long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
                && n >= RangeStart && n < RangeEnd;
        }
        else
        {
            result = String!.Matches(value);
        }

        return result != Invert;
    }
}

/// <summary>A compiled <c>envoy.config.route.v3.QueryParameterMatcher</c>.</summary>
internal sealed record QueryMatch(string Name, StringMatch? String, bool Present)
{
    public bool Matches(string? value) => String is null ? (value is not null) == Present : value is not null && String.Matches(value);
}

/// <summary>A configuration problem found while compiling xDS into the runtime model.</summary>
internal sealed class ConfigException : Exception
{
    public ConfigException(string message)
        : base(message)
    {
    }

    public ConfigException()
    {
    }

    public ConfigException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
