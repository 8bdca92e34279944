namespace Skein.Api.Model;

/// <summary>Istio ServiceEntry: adds a service to the registry, typically one outside the mesh.</summary>
public sealed record ServiceEntry : Resource<ServiceEntrySpec>;

/// <summary>A service's hosts, ports, location, name resolution and endpoints.</summary>
[OneOf(nameof(Endpoints), nameof(WorkloadSelector))]
public sealed record ServiceEntrySpec : IValidatable
{
    /// <summary>Protocol names Istio recognizes on a port (case-insensitive).</summary>
    internal static readonly IReadOnlySet<string> Protocols = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "HTTP", "HTTPS", "HTTP2", "GRPC", "GRPC-Web", "HTTP_PROXY", "TCP", "TLS", "UDP", "Mongo", "Redis", "MySQL",
    };

    /// <summary>
    /// Host names of the service (HTTP Host/authority or TLS SNI); wildcards like "*.example.com"
    /// are allowed, "*" is not.
    /// </summary>
    [Required, Format(ValueFormat.Host)]
    public IReadOnlyList<string>? Hosts { get; init; }

    /// <summary>Virtual IP addresses or CIDR blocks of the service (CIDRs only with NONE or STATIC resolution).</summary>
    [Format(ValueFormat.Cidr)]
    public IReadOnlyList<string>? Addresses { get; init; }

    /// <summary>The service's ports; numbers and names must be unique.</summary>
    public IReadOnlyList<ServiceEntryPort>? Ports { get; init; }

    /// <summary>Whether the service is outside the mesh (the default) or part of it.</summary>
    public ServiceEntryLocation? Location { get; init; }

    /// <summary>How endpoints are found: NONE (the default), STATIC, DNS, DNS_ROUND_ROBIN or DYNAMIC_DNS.</summary>
    public ServiceEntryResolution? Resolution { get; init; }

    /// <summary>The service's endpoints; not with resolution NONE, or with workloadSelector.</summary>
    public IReadOnlyList<WorkloadEntrySpec>? Endpoints { get; init; }

    /// <summary>Selects pods and WorkloadEntries as endpoints instead of listing them (MESH_INTERNAL services).</summary>
    public ServiceEntryWorkloadSelector? WorkloadSelector { get; init; }

    /// <summary>Namespaces that can see the service: ".", "*" (the default), "~" (none) or names.</summary>
    public IReadOnlyList<string>? ExportTo { get; init; }

    /// <summary>Names the server certificate's subject alternative name must match.</summary>
    public IReadOnlyList<string>? SubjectAltNames { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        var hosts = Hosts ?? [];
        var resolution = Resolution ?? ServiceEntryResolution.None;
        var endpoints = Endpoints ?? [];

        if (Hosts is { Count: 0 })
        {
            context.Error("hosts", "at least one host is required");
        }

        for (var i = 0; i < hosts.Count; i++)
        {
            if (hosts[i] == "*")
            {
                context.Error(ModelRules.Item("hosts", i), "\"*\" is not allowed; use a wildcard such as \"*.example.com\"");
            }
        }

        if (resolution is not (ServiceEntryResolution.None or ServiceEntryResolution.Static))
        {
            for (var i = 0; i < (Addresses?.Count ?? 0); i++)
            {
                if (Addresses![i].Contains('/'))
                {
                    context.Error(ModelRules.Item("addresses", i), "CIDR addresses are only allowed with resolution NONE or STATIC");
                }
            }
        }

        ModelRules.UniquePorts(context, Ports, static p => p.Name, static p => p.Number, "number");

        switch (resolution)
        {
            case ServiceEntryResolution.None:
                if (Endpoints is not null)
                {
                    context.Error("endpoints", "cannot be set when resolution is NONE");
                }

                if (WorkloadSelector is not null)
                {
                    context.Warning("workloadSelector", "has no effect when resolution is NONE");
                }

                break;

            case ServiceEntryResolution.Static:
                for (var i = 0; i < endpoints.Count; i++)
                {
                    var address = endpoints[i].Address;
                    if (address is not null && !endpoints[i].IsUnixSocket && !ModelRules.IsIpAddress(address))
                    {
                        context.Error(ModelRules.Item("endpoints", i) + ".address", $"\"{address}\" must be an IP address or unix:// socket when resolution is STATIC");
                    }
                }

                break;

            case ServiceEntryResolution.Dns or ServiceEntryResolution.DnsRoundRobin:
                if (endpoints.Count == 0)
                {
                    for (var i = 0; i < hosts.Count; i++)
                    {
                        if (hosts[i] != "*" && !ModelRules.IsFqdn(hosts[i]))
                        {
                            context.Error(ModelRules.Item("hosts", i), $"\"{hosts[i]}\" must be a fully qualified name (no wildcard) when resolution is {WireName(resolution)} without endpoints");
                        }
                    }
                }

                if (resolution == ServiceEntryResolution.DnsRoundRobin && endpoints.Count > 1)
                {
                    context.Error("endpoints", "DNS_ROUND_ROBIN allows at most one endpoint");
                }

                for (var i = 0; i < endpoints.Count; i++)
                {
                    if (endpoints[i].IsUnixSocket)
                    {
                        context.Error(ModelRules.Item("endpoints", i) + ".address", $"a unix socket cannot be resolved with {WireName(resolution)}");
                    }
                }

                break;

            case ServiceEntryResolution.DynamicDns:
                if (Endpoints is not null)
                {
                    context.Error("endpoints", "cannot be set when resolution is DYNAMIC_DNS");
                }

                break;
        }

        for (var i = 0; i < endpoints.Count; i++)
        {
            foreach (var name in endpoints[i].Ports?.Keys ?? [])
            {
                if (Ports?.Any(p => p.Name == name) != true)
                {
                    context.KeyError(ModelRules.Entry(ModelRules.Item("endpoints", i) + ".ports", name), $"port \"{name}\" is not one of the service entry's ports");
                }
            }
        }

        ModelRules.ExportTo(context, ExportTo, allowNone: true);
    }

    private static string WireName(ServiceEntryResolution resolution) =>
        resolution == ServiceEntryResolution.DnsRoundRobin ? "DNS_ROUND_ROBIN" : "DNS";
}

/// <summary>A port of a ServiceEntry.</summary>
public sealed record ServiceEntryPort : IValidatable
{
    /// <summary>The port number.</summary>
    [Required, Range(1, 65535)]
    public int? Number { get; init; }

    /// <summary>The protocol: HTTP, HTTPS, HTTP2, GRPC, TCP, TLS, MONGO, REDIS, MYSQL, UDP… (TCP when unknown).</summary>
    public string? Protocol { get; init; }

    /// <summary>The port's name, referred to by endpoint port maps.</summary>
    [Required]
    public string? Name { get; init; }

    /// <summary>The port on the endpoints that receives the traffic; the same as number when omitted.</summary>
    [Range(1, 65535)]
    public int? TargetPort { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Protocol is not null && !ServiceEntrySpec.Protocols.Contains(Protocol))
        {
            context.Error("protocol", $"unknown protocol \"{Protocol}\": use one of {string.Join(", ", ServiceEntrySpec.Protocols)}");
        }
    }
}

/// <summary>Selects the workloads (pods, WorkloadEntries) that are a ServiceEntry's endpoints.</summary>
public sealed record ServiceEntryWorkloadSelector
{
    /// <summary>Labels a workload must carry; wildcards are not allowed.</summary>
    [Format(ValueFormat.Labels)]
    public IReadOnlyDictionary<string, string>? Labels { get; init; }
}

/// <summary>Whether a ServiceEntry's service is inside the mesh.</summary>
public enum ServiceEntryLocation
{
    /// <summary>Outside the mesh: no mTLS, treated as external.</summary>
    MeshExternal,

    /// <summary>Part of the mesh (e.g. VMs added by hand).</summary>
    MeshInternal,
}

/// <summary>How a ServiceEntry's endpoints are found.</summary>
public enum ServiceEntryResolution
{
    /// <summary>Connections go to the address the client asked for.</summary>
    None,

    /// <summary>The listed endpoint addresses are used as they are.</summary>
    Static,

    /// <summary>Endpoints are found by resolving host names asynchronously; all addresses are used.</summary>
    Dns,

    /// <summary>Host names are resolved when a connection is made; only the first address is used.</summary>
    DnsRoundRobin,

    /// <summary>Wildcard hosts are resolved on demand with a dynamic forward proxy.</summary>
    DynamicDns,
}
