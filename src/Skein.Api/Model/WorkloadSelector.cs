namespace Skein.Api.Model;

/// <summary>Selects workloads by label (istio.type.v1beta1.WorkloadSelector); every label must match.</summary>
public sealed record WorkloadSelector
{
    /// <summary>Labels a workload must carry for the policy to apply to it; wildcards are not allowed.</summary>
    [Format(ValueFormat.Labels)]
    public IReadOnlyDictionary<string, string>? MatchLabels { get; init; }
}
