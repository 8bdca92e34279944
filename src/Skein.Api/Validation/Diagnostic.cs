using Skein.Api.Model;

namespace Skein.Api.Validation;

public enum Severity
{
    Error,
    Warning,
    Info,
}

/// <summary>
/// One finding about config: where, which field, what is wrong. Formats as
/// <c>reviews.yaml:14:9 spec.http[0].route[1].weight: must be between 0 and 100</c>.
/// </summary>
public sealed record Diagnostic(Severity Severity, string Code, SourceLocation? Location, string Path, string Message)
{
    /// <summary>The resource the finding is about ("VirtualService default/reviews"), when known.</summary>
    public string? Resource { get; init; }

    public override string ToString()
    {
        var where = Location is null ? "" : Location + " ";
        var field = Path.Length == 0 ? "" : Path + ": ";
        return where + field + Message;
    }
}

/// <summary>Stable diagnostic codes; documented in the README. Never renumber.</summary>
public static class DiagnosticCodes
{
    public const string YamlSyntax = "SK0001";
    public const string UnknownField = "SK0002";
    public const string WrongType = "SK0003";
    public const string MissingField = "SK0004";
    public const string OutOfRange = "SK0005";
    public const string InvalidEnum = "SK0006";
    public const string InvalidFormat = "SK0007";
    public const string OneOfConflict = "SK0008";
    public const string DuplicateKey = "SK0009";
    public const string UnknownKind = "SK0010";
    public const string InvalidValue = "SK0011";
    public const string TooComplex = "SK0012";
    public const string ReadFailed = "SK0013";

    public const string SubsetNotDefined = "SK0101";
    public const string WeightsNotHundred = "SK0102";
    public const string HostNotFound = "SK0103";
    public const string ConflictingVirtualServices = "SK0104";
    public const string SelectorMatchesNothing = "SK0105";
    public const string MtlsConflict = "SK0106";
    public const string DuplicateSubset = "SK0107";
    public const string PortNotExposed = "SK0108";
    public const string DuplicateResource = "SK0109";
    public const string NotSupported = "SK0110";
    public const string ConflictingDestinationRules = "SK0111";
}
