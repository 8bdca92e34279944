namespace Skein.Api.Model;

/// <summary>Kubernetes core v1 Service: a name and ports in front of the workloads its selector picks.</summary>
public sealed record Service : Resource<ServiceSpec>, IValidatable
{
    void IValidatable.Validate(ValidationContext context)
    {
        // Service names become DNS labels: they must also start with a letter (RFC 1035).
        if (Metadata?.Name is { Length: > 0 } name && !(ModelRules.IsDnsLabel(name) && char.IsAsciiLetter(name[0])))
        {
            context.Error("metadata.name", $"Service name \"{name}\" must be a DNS label starting with a letter (lower case letters, digits and '-', at most 63)");
        }
    }
}

/// <summary>The spec of a Kubernetes Service; the fields a mesh uses, the rest are errors.</summary>
public sealed record ServiceSpec : IValidatable
{
    /// <summary>Pods (and workloads) with these labels are the service's endpoints; none are selected when omitted.</summary>
    [Format(ValueFormat.Labels)]
    public IReadOnlyDictionary<string, string>? Selector { get; init; }

    /// <summary>The ports the service exposes; names are required when there is more than one.</summary>
    public IReadOnlyList<ServicePort>? Ports { get; init; }

    /// <summary>The virtual IP: an address, "None" for a headless service, or empty to allocate one.</summary>
    public string? ClusterIP { get; init; }

    /// <summary>The virtual IPs, one per IP family; the first equals clusterIP.</summary>
    public IReadOnlyList<string>? ClusterIPs { get; init; }

    /// <summary>ClusterIP (the default), NodePort, LoadBalancer or ExternalName.</summary>
    public ServiceType? Type { get; init; }

    /// <summary>Extra addresses the cluster accepts traffic for on the service's ports.</summary>
    [Format(ValueFormat.IpAddress)]
    public IReadOnlyList<string>? ExternalIPs { get; init; }

    /// <summary>For type ExternalName: the DNS name the service is an alias (CNAME) of.</summary>
    public string? ExternalName { get; init; }

    /// <summary>None (the default) or ClientIP to keep a client on the same endpoint.</summary>
    public SessionAffinity? SessionAffinity { get; init; }

    /// <summary>Settings for sessionAffinity ClientIP.</summary>
    public SessionAffinityConfig? SessionAffinityConfig { get; init; }

    /// <summary>Deprecated in Kubernetes: the load balancer address to request.</summary>
    [Format(ValueFormat.IpAddress)]
    public string? LoadBalancerIP { get; init; }

    /// <summary>Client CIDR blocks the load balancer accepts.</summary>
    [Format(ValueFormat.Cidr)]
    public IReadOnlyList<string>? LoadBalancerSourceRanges { get; init; }

    /// <summary>The load balancer implementation to use.</summary>
    public string? LoadBalancerClass { get; init; }

    /// <summary>Cluster (the default) or Local: whether external traffic may go to endpoints on other nodes.</summary>
    public ServiceTrafficPolicy? ExternalTrafficPolicy { get; init; }

    /// <summary>Cluster (the default) or Local: whether in-cluster traffic may go to endpoints on other nodes.</summary>
    public ServiceTrafficPolicy? InternalTrafficPolicy { get; init; }

    /// <summary>The node port for health checks of a LoadBalancer service with externalTrafficPolicy Local.</summary>
    [Range(1, 65535)]
    public int? HealthCheckNodePort { get; init; }

    /// <summary>Include endpoints that are not ready (for peer discovery of stateful workloads).</summary>
    public bool? PublishNotReadyAddresses { get; init; }

    /// <summary>The IP families of the service, IPv4 and/or IPv6, in order.</summary>
    public IReadOnlyList<IpFamily>? IpFamilies { get; init; }

    /// <summary>SingleStack (the default), PreferDualStack or RequireDualStack.</summary>
    public IpFamilyPolicy? IpFamilyPolicy { get; init; }

    /// <summary>Whether a LoadBalancer service also gets node ports (true by default).</summary>
    public bool? AllocateLoadBalancerNodePorts { get; init; }

    /// <summary>A preference for endpoints close to the client: PreferClose, PreferSameZone or PreferSameNode.</summary>
    public TrafficDistribution? TrafficDistribution { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        var type = Type ?? ServiceType.ClusterIP;
        var headless = ClusterIP == "None";
        var ports = Ports ?? [];

        if (type == ServiceType.ExternalName)
        {
            if (string.IsNullOrEmpty(ExternalName))
            {
                context.Error("externalName", "is required when type is ExternalName");
            }
            else if (!ModelRules.IsFqdn(ExternalName))
            {
                context.Error("externalName", $"\"{ExternalName}\" is not a valid DNS name");
            }

            if (!string.IsNullOrEmpty(ClusterIP))
            {
                context.Error("clusterIP", "must be empty when type is ExternalName");
            }
        }
        else
        {
            if (ExternalName is not null)
            {
                context.Warning("externalName", "is ignored unless type is ExternalName");
            }

            if (ports.Count == 0 && !headless)
            {
                context.Error("ports", "at least one port is required (or set clusterIP: None for a headless service)");
            }
        }

        if (ClusterIP is { Length: > 0 } && !headless && !ModelRules.IsIpAddress(ClusterIP))
        {
            context.Error("clusterIP", $"\"{ClusterIP}\" must be \"None\" or an IP address");
        }

        for (var i = 0; i < (ClusterIPs?.Count ?? 0); i++)
        {
            var ip = ClusterIPs![i];
            if (ip != "None" && !ModelRules.IsIpAddress(ip))
            {
                context.Error(ModelRules.Item("clusterIPs", i), $"\"{ip}\" must be \"None\" or an IP address");
            }
        }

        if (ClusterIP is { Length: > 0 } && ClusterIPs is { Count: > 0 } && ClusterIPs[0] != ClusterIP)
        {
            context.Error("clusterIPs", "the first entry must equal clusterIP");
        }

        CheckPorts(context, ports, type);

        var nodePorts = type is ServiceType.NodePort or ServiceType.LoadBalancer;
        if (ExternalTrafficPolicy is not null && !nodePorts)
        {
            context.Error("externalTrafficPolicy", "may only be set when type is NodePort or LoadBalancer");
        }

        if (HealthCheckNodePort is not null && (type != ServiceType.LoadBalancer || ExternalTrafficPolicy != ServiceTrafficPolicy.Local))
        {
            context.Error("healthCheckNodePort", "may only be set when type is LoadBalancer and externalTrafficPolicy is Local");
        }

        if (SessionAffinityConfig is not null && SessionAffinity != Model.SessionAffinity.ClientIP)
        {
            context.Error("sessionAffinityConfig", "may only be set when sessionAffinity is ClientIP");
        }

        if (IpFamilies is { } families)
        {
            if (families.Count > 2)
            {
                context.Error("ipFamilies", "may list at most two families");
            }
            else if (families.Count == 2 && families[0] == families[1])
            {
                context.Error("ipFamilies", "must not list a family twice");
            }
            else if (families.Count == 2 && IpFamilyPolicy is null or Model.IpFamilyPolicy.SingleStack)
            {
                context.Error("ipFamilyPolicy", "must be PreferDualStack or RequireDualStack when two ipFamilies are listed");
            }
        }
    }

    private static void CheckPorts(ValidationContext context, IReadOnlyList<ServicePort> ports, ServiceType type)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var numbers = new HashSet<(int, ServicePortProtocol)>();
        for (var i = 0; i < ports.Count; i++)
        {
            var port = ports[i];
            var path = ModelRules.Item("ports", i);
            if (port.Name is null)
            {
                if (ports.Count > 1)
                {
                    context.Error(path + ".name", "is required when a Service has more than one port");
                }
            }
            else if (!names.Add(port.Name))
            {
                context.Error(path + ".name", $"duplicate port name \"{port.Name}\"");
            }

            var protocol = port.Protocol ?? ServicePortProtocol.Tcp;
            if (port.Port is { } number && !numbers.Add((number, protocol)))
            {
                context.Error(path + ".port", $"duplicate port {number}/{protocol.ToString().ToUpperInvariant()}");
            }

            if (port.NodePort is not null && type is not (ServiceType.NodePort or ServiceType.LoadBalancer))
            {
                context.Error(path + ".nodePort", "may only be set when type is NodePort or LoadBalancer");
            }
        }
    }
}

/// <summary>A port of a Kubernetes Service.</summary>
public sealed record ServicePort : IValidatable
{
    /// <summary>
    /// The port's name (a DNS label). Istio reads the protocol from a "http-", "grpc-", "tcp-"…
    /// prefix when appProtocol is not set.
    /// </summary>
    public string? Name { get; init; }

    /// <summary>TCP (the default), UDP or SCTP.</summary>
    public ServicePortProtocol? Protocol { get; init; }

    /// <summary>The application protocol (http, http2, grpc, tcp, tls, kubernetes.io/h2c…); takes precedence over the name prefix.</summary>
    public string? AppProtocol { get; init; }

    /// <summary>The port the service listens on.</summary>
    [Required, Range(1, 65535)]
    public int? Port { get; init; }

    /// <summary>The port on the endpoints, by number or by container port name; the same as port when omitted.</summary>
    public IntOrString? TargetPort { get; init; }

    /// <summary>The node port, for NodePort and LoadBalancer services.</summary>
    [Range(1, 65535)]
    public int? NodePort { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Name is not null && !ModelRules.IsDnsLabel(Name))
        {
            context.Error("name", $"port name \"{Name}\" must be a DNS label (lower case letters, digits and '-', at most 63)");
        }

        if (TargetPort?.Name is { } named && !IsIanaServiceName(named))
        {
            context.Error("targetPort", $"port name \"{named}\" is invalid: at most 15 lower case letters, digits and '-', with at least one letter");
        }
    }

    /// <summary>Kubernetes IANA_SVC_NAME: 1-15 of [a-z0-9-], a letter somewhere, no leading, trailing or double '-'.</summary>
    private static bool IsIanaServiceName(string name) =>
        name.Length is > 0 and <= 15 &&
        name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-') &&
        name.Any(char.IsAsciiLetterLower) &&
        name[0] != '-' && name[^1] != '-' &&
        !name.Contains("--", StringComparison.Ordinal);
}

/// <summary>Settings for ClientIP session affinity.</summary>
public sealed record SessionAffinityConfig
{
    /// <summary>Client IP affinity settings.</summary>
    public ClientIpConfig? ClientIP { get; init; }
}

/// <summary>How long ClientIP affinity lasts.</summary>
public sealed record ClientIpConfig
{
    /// <summary>Seconds a client sticks to an endpoint (10800, three hours, by default).</summary>
    [Range(1, 86400)]
    public int? TimeoutSeconds { get; init; }
}

/// <summary>Kubernetes Service types.</summary>
public enum ServiceType
{
    /// <summary>A virtual IP inside the cluster.</summary>
    [WireName("ClusterIP")]
    ClusterIP,

    /// <summary>A ClusterIP plus a port on every node.</summary>
    [WireName("NodePort")]
    NodePort,

    /// <summary>A NodePort plus an external load balancer.</summary>
    [WireName("LoadBalancer")]
    LoadBalancer,

    /// <summary>A DNS alias (CNAME) of externalName.</summary>
    [WireName("ExternalName")]
    ExternalName,
}

/// <summary>Transport protocols of a Service port.</summary>
public enum ServicePortProtocol
{
    /// <summary>TCP.</summary>
    [WireName("TCP")]
    Tcp,

    /// <summary>UDP.</summary>
    [WireName("UDP")]
    Udp,

    /// <summary>SCTP.</summary>
    [WireName("SCTP")]
    Sctp,
}

/// <summary>Kubernetes session affinity.</summary>
public enum SessionAffinity
{
    /// <summary>No affinity.</summary>
    [WireName("None")]
    None,

    /// <summary>Requests from one client IP go to the same endpoint.</summary>
    [WireName("ClientIP")]
    ClientIP,
}

/// <summary>Whether traffic may go to endpoints on other nodes.</summary>
public enum ServiceTrafficPolicy
{
    /// <summary>Any endpoint in the cluster.</summary>
    [WireName("Cluster")]
    Cluster,

    /// <summary>Only endpoints on the receiving node.</summary>
    [WireName("Local")]
    Local,
}

/// <summary>IP families.</summary>
public enum IpFamily
{
    /// <summary>IPv4.</summary>
    [WireName("IPv4")]
    IPv4,

    /// <summary>IPv6.</summary>
    [WireName("IPv6")]
    IPv6,
}

/// <summary>How many IP families a Service gets.</summary>
public enum IpFamilyPolicy
{
    /// <summary>One family.</summary>
    [WireName("SingleStack")]
    SingleStack,

    /// <summary>Two families when the cluster has them, else one.</summary>
    [WireName("PreferDualStack")]
    PreferDualStack,

    /// <summary>Two families, or an error.</summary>
    [WireName("RequireDualStack")]
    RequireDualStack,
}

/// <summary>A preference for nearby endpoints (Kubernetes trafficDistribution).</summary>
public enum TrafficDistribution
{
    /// <summary>Prefer endpoints close to the client (same zone); the older spelling of PreferSameZone.</summary>
    [WireName("PreferClose")]
    PreferClose,

    /// <summary>Prefer endpoints in the client's zone.</summary>
    [WireName("PreferSameZone")]
    PreferSameZone,

    /// <summary>Prefer endpoints on the client's node.</summary>
    [WireName("PreferSameNode")]
    PreferSameNode,
}
