using Skein.Api.Validation;

namespace Skein.Api.Model;

// The model is declarative: the loader reads these attributes to bind YAML, report
// positions and check the simple rules, so every record states its own schema once.

/// <summary>The field must be present.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class RequiredAttribute : Attribute;

/// <summary>Inclusive numeric bounds; the message reads "must be between {Min} and {Max}".</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class RangeAttribute(double min, double max) : Attribute
{
    public double Min { get; } = min;
    public double Max { get; } = max;
}

/// <summary>Names a group of mutually exclusive fields (a protobuf oneof) by their C# property names.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class OneOfAttribute(params string[] properties) : Attribute
{
    public IReadOnlyList<string> Properties { get; } = properties;

    /// <summary>Exactly one of the fields must be set, rather than at most one.</summary>
    public bool Required { get; init; }
}

/// <summary>Overrides the YAML key when it is not the camelCase form of the property name.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class YamlNameAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}

/// <summary>Overrides an enum member's YAML spelling; by default PascalCase becomes UPPER_SNAKE.</summary>
[AttributeUsage(AttributeTargets.Field)]
public sealed class WireNameAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}

/// <summary>A syntax check for a string field (or each string in a list, or each key/value in a map).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class FormatAttribute(ValueFormat format) : Attribute
{
    public ValueFormat Format { get; } = format;
}

public enum ValueFormat
{
    /// <summary>An RE2 regular expression of the subset Envoy accepts.</summary>
    Regex,
    /// <summary>An IPv4/IPv6 address or CIDR block.</summary>
    Cidr,
    /// <summary>An IP address (no prefix length).</summary>
    IpAddress,
    /// <summary>A DNS host name, optionally with a leading "*." wildcard, or "*".</summary>
    Host,
    /// <summary>A Kubernetes object name (RFC 1123 DNS label / subdomain).</summary>
    DnsName,
    /// <summary>Label keys and values as Kubernetes accepts them (applies to a map).</summary>
    Labels,
    /// <summary>An HTTP header name (lowercase token).</summary>
    HeaderName,
    /// <summary>An HTTP method token.</summary>
    HttpMethod,
}

/// <summary>
/// Cross-field rules a record checks after binding (for example: destination weights
/// summing to 100). Paths passed to the context are relative to the record.
/// </summary>
public interface IValidatable
{
    void Validate(ValidationContext context);
}

/// <summary>Collects rule violations for one record; the loader turns paths into file positions.</summary>
public abstract class ValidationContext
{
    /// <summary>
    /// True when a field or item under this record failed to bind (its own error is already
    /// reported); rules that add up several fields (weights) skip, so they do not report a
    /// consequence of that error as a second problem.
    /// </summary>
    public abstract bool HasBindingErrors { get; }

    /// <summary>Reports an error at <paramref name="relativePath"/> (e.g. "route[1].weight", or "" for the record itself).</summary>
    public void Error(string relativePath, string message, string? code = null) => Report(Severity.Error, relativePath, message, code, atKey: false);

    /// <summary>Reports a warning: allowed config that probably does not do what the user meant.</summary>
    public void Warning(string relativePath, string message, string? code = null) => Report(Severity.Warning, relativePath, message, code, atKey: false);

    /// <summary>Reports an error about a map entry's key (a header or port name), pointing at the key.</summary>
    public void KeyError(string relativePath, string message) => Report(Severity.Error, relativePath, message, null, atKey: true);

    protected abstract void Report(Severity severity, string relativePath, string message, string? code, bool atKey);
}
