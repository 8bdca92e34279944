namespace Skein.Api.Model;

/// <summary>A percentage in the range 0.0 to 100.0 (Istio Percent), e.g. <c>value: 0.1</c>.</summary>
public sealed record Percent
{
    /// <summary>The percentage, 0 to 100; fractions are allowed.</summary>
    [Range(0, 100)]
    public double? Value { get; init; }
}
