namespace Skein.Api.Model;

/// <summary>Istio PeerAuthentication: whether workloads accept plain text, mTLS, or both.</summary>
public sealed record PeerAuthentication : Resource<PeerAuthenticationSpec>;

/// <summary>The mTLS mode for the selected workloads, optionally per port.</summary>
public sealed record PeerAuthenticationSpec : IValidatable
{
    /// <summary>
    /// The workloads the policy applies to. Without a selector it applies to the whole namespace,
    /// or the whole mesh in the root namespace.
    /// </summary>
    public WorkloadSelector? Selector { get; init; }

    /// <summary>The mTLS mode; inherited from the parent scope when unset.</summary>
    public PeerAuthenticationMtls? Mtls { get; init; }

    /// <summary>
    /// mTLS modes for specific ports, by port number ("8080"). The port is the workload's port,
    /// not the service port. Needs a selector.
    /// </summary>
    public IReadOnlyDictionary<string, PeerAuthenticationMtls>? PortLevelMtls { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (PortLevelMtls is null)
        {
            return;
        }

        if (Selector?.MatchLabels is not { Count: > 0 })
        {
            context.Error("portLevelMtls", "requires a selector with matchLabels (a namespace- or mesh-wide policy cannot set port-level mTLS)");
        }

        if (PortLevelMtls.Count == 0)
        {
            context.Error("portLevelMtls", "must have at least one port when set");
        }

        foreach (var port in PortLevelMtls.Keys)
        {
            if (!ModelRules.IsPortString(port))
            {
                context.KeyError(ModelRules.Entry("portLevelMtls", port), $"port \"{port}\" must be a number between 1 and 65535");
            }
        }
    }
}

/// <summary>mTLS settings of a PeerAuthentication.</summary>
public sealed record PeerAuthenticationMtls
{
    /// <summary>The mTLS mode; UNSET inherits from the parent (PERMISSIVE at the top).</summary>
    public MtlsMode? Mode { get; init; }
}

/// <summary>How a workload treats incoming connections.</summary>
public enum MtlsMode
{
    /// <summary>Inherit from the parent scope.</summary>
    Unset,

    /// <summary>Accept plain text only (no mTLS tunnel).</summary>
    Disable,

    /// <summary>Accept both plain text and mTLS.</summary>
    Permissive,

    /// <summary>Accept mTLS only.</summary>
    Strict,
}
