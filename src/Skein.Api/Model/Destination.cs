namespace Skein.Api.Model;

/// <summary>A service (and optionally a subset and port) that traffic is sent to.</summary>
public sealed record Destination : IValidatable
{
    /// <summary>
    /// A service from the registry: a Kubernetes Service or a ServiceEntry host. Short names
    /// ("reviews") are resolved in the namespace of the rule, not of the service.
    /// </summary>
    [Required, Format(ValueFormat.Host)]
    public string? Host { get; init; }

    /// <summary>A subset defined by a DestinationRule for the host.</summary>
    public string? Subset { get; init; }

    /// <summary>The port on the host; only needed when the service exposes more than one.</summary>
    public PortSelector? Port { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Host == "*")
        {
            context.Error("host", "must name a service, not \"*\"");
        }

        if (Subset is not null && !ModelRules.IsDnsLabel(Subset))
        {
            context.Error("subset", $"subset name \"{Subset}\" is not a valid DNS label");
        }
    }
}

/// <summary>Selects a port by number.</summary>
public sealed record PortSelector
{
    /// <summary>The port number.</summary>
    [Range(1, 65535)]
    public int? Number { get; init; }
}
