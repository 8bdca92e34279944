namespace Skein.Api.Model;

/// <summary>
/// Skein Workload (skein.dev/v1alpha1): a local process that <c>skein up</c> runs with a sidecar,
/// as a Deployment would in Kubernetes. Its namespace comes from metadata.
/// </summary>
public sealed record Workload : Resource<WorkloadSpec>;

/// <summary>The command to run, its ports, labels and identity.</summary>
public sealed record WorkloadSpec : IValidatable
{
    /// <summary>The program and its leading arguments, as a list (["python", "app.py"]); not run through a shell.</summary>
    [Required]
    public IReadOnlyList<string>? Command { get; init; }

    /// <summary>Arguments appended to command.</summary>
    public IReadOnlyList<string>? Args { get; init; }

    /// <summary>Environment variables for the process, in order.</summary>
    public IReadOnlyList<WorkloadEnvVar>? Env { get; init; }

    /// <summary>Ports the process listens on; Services select them by number or name.</summary>
    public IReadOnlyList<WorkloadPort>? Ports { get; init; }

    /// <summary>
    /// Labels that Service selectors, DestinationRule subsets and policy selectors match; subsets
    /// usually select on "version".
    /// </summary>
    [Format(ValueFormat.Labels)]
    public IReadOnlyDictionary<string, string>? Labels { get; init; }

    /// <summary>Shorthand for labels.version, the label DestinationRule subsets usually select on.</summary>
    public string? Version { get; init; }

    /// <summary>The service account the workload runs as: its mTLS identity ("default" when omitted).</summary>
    [Format(ValueFormat.DnsName)]
    public string? ServiceAccount { get; init; }

    /// <summary>How many copies to run (1 by default; 0 defines the workload without running it).</summary>
    [Range(0, int.MaxValue)]
    public int? Replicas { get; init; }

    /// <summary>An HTTP check that decides when a copy is ready for traffic.</summary>
    public WorkloadHealthCheck? HealthCheck { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Command is { Count: 0 })
        {
            context.Error("command", "must name a program");
        }
        else if (Command is { Count: > 0 } && string.IsNullOrWhiteSpace(Command[0]))
        {
            context.Error("command[0]", "must name a program");
        }

        if (Version is not null)
        {
            if (Validation.Formats.CheckLabelValue(Version) is { } message)
            {
                context.Error("version", message);
            }

            if (Labels is not null && Labels.TryGetValue("version", out var label) && label != Version)
            {
                context.Error("version", $"\"{Version}\" conflicts with labels.version \"{label}\"");
            }
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < (Env?.Count ?? 0); i++)
        {
            if (Env![i].Name is { } name && !names.Add(name))
            {
                context.Warning(ModelRules.Item("env", i) + ".name", $"\"{name}\" is set more than once; the last value wins");
            }
        }

        ModelRules.UniquePorts(context, Ports, static p => p.Name, static p => p.Port, "port");

        if (HealthCheck?.Port is { } healthPort && Ports is { Count: > 0 } && !Ports.Any(p => p.Port == healthPort))
        {
            context.Warning("healthCheck.port", $"port {healthPort} is not one of the workload's ports");
        }
    }
}

/// <summary>An environment variable.</summary>
public sealed record WorkloadEnvVar : IValidatable
{
    /// <summary>The variable's name.</summary>
    [Required]
    public string? Name { get; init; }

    /// <summary>The variable's value; empty when omitted.</summary>
    public string? Value { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Name is { Length: 0 })
        {
            context.Error("name", "must not be empty");
        }
        else if (Name is not null && (Name.Contains('=') || Name.Contains('\0')))
        {
            context.Error("name", $"\"{Name}\" is not a valid environment variable name (no '=')");
        }
    }
}

/// <summary>A port a workload listens on.</summary>
public sealed record WorkloadPort : IValidatable
{
    /// <summary>The port's name, e.g. "http"; Service targetPorts can refer to it.</summary>
    public string? Name { get; init; }

    /// <summary>The port number the process listens on.</summary>
    [Required, Range(1, 65535)]
    public int? Port { get; init; }

    /// <summary>The protocol: HTTP, HTTP2, GRPC, TCP, TLS… (detected when omitted).</summary>
    public string? Protocol { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Name is not null && !ModelRules.IsPortName(Name))
        {
            context.Error("name", $"invalid port name \"{Name}\": letters, digits and '-', starting and ending with a letter or digit");
        }

        if (Protocol is not null && !ServiceEntrySpec.Protocols.Contains(Protocol))
        {
            context.Error("protocol", $"unknown protocol \"{Protocol}\": use one of {string.Join(", ", ServiceEntrySpec.Protocols)}");
        }
    }
}

/// <summary>An HTTP readiness check: a copy is ready once GET path on port answers 2xx or 3xx.</summary>
public sealed record WorkloadHealthCheck : IValidatable
{
    /// <summary>The path to request ("/" when omitted).</summary>
    public string? Path { get; init; }

    /// <summary>The port to request; the workload's first port when omitted.</summary>
    [Range(1, 65535)]
    public int? Port { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Path is not null && !Path.StartsWith('/'))
        {
            context.Error("path", "must start with \"/\"");
        }
    }
}
