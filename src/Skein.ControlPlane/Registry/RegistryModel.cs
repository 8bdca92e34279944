using System.Collections.Immutable;
using Skein.Api.Model;

namespace Skein.ControlPlane.Registry;

/// <summary>The application protocol of a port, as Istio derives it (appProtocol, then the name's prefix).</summary>
internal enum PortProtocol
{
    /// <summary>Not declared: routed as HTTP, forwarded upstream with the client's protocol.</summary>
    Unknown,
    Http,
    Http2,
    Grpc,
    GrpcWeb,
    Tcp,
    Tls,
    Https,
}

internal static class PortProtocols
{
    /// <summary>Routed through an HTTP connection manager (RDS) rather than a TCP proxy.</summary>
    public static bool IsHttp(this PortProtocol p) => p is PortProtocol.Unknown or PortProtocol.Http or PortProtocol.Http2 or PortProtocol.Grpc or PortProtocol.GrpcWeb;

    /// <summary>The upstream speaks HTTP/2 (h2c).</summary>
    public static bool IsHttp2(this PortProtocol p) => p is PortProtocol.Http2 or PortProtocol.Grpc;

    /// <summary>Istio's rules: appProtocol wins, then a "http-", "grpc-"… prefix of the port name.</summary>
    public static PortProtocol Parse(string? appProtocol, string? portName)
    {
        if (!string.IsNullOrEmpty(appProtocol))
        {
            var fromApp = FromName(appProtocol);
            if (fromApp != PortProtocol.Unknown)
            {
                return fromApp;
            }
        }

        if (string.IsNullOrEmpty(portName))
        {
            return PortProtocol.Unknown;
        }

        var dash = portName.IndexOf('-', StringComparison.Ordinal);
        return FromName(dash < 0 ? portName : portName[..dash]);
    }

    public static PortProtocol FromName(string? name) => name?.ToLowerInvariant() switch
    {
        "http" or "http1" or "kubernetes.io/ws" or "kubernetes.io/wss" => PortProtocol.Http,
        "http2" or "h2c" or "kubernetes.io/h2c" => PortProtocol.Http2,
        "grpc" => PortProtocol.Grpc,
        "grpc-web" => PortProtocol.GrpcWeb,
        "tcp" or "mongo" or "redis" or "mysql" or "udp" => PortProtocol.Tcp,
        "tls" => PortProtocol.Tls,
        "https" => PortProtocol.Https,
        _ => PortProtocol.Unknown,
    };

    /// <summary>The name Istio uses for the protocol ("HTTP", "GRPC", "TCP"…).</summary>
    public static string Name(this PortProtocol p) => p switch
    {
        PortProtocol.Http => "HTTP",
        PortProtocol.Http2 => "HTTP2",
        PortProtocol.Grpc => "GRPC",
        PortProtocol.GrpcWeb => "GRPC-Web",
        PortProtocol.Tcp => "TCP",
        PortProtocol.Tls => "TLS",
        PortProtocol.Https => "HTTPS",
        _ => "UnsupportedProtocol",
    };
}

/// <summary>A port a workload instance listens on.</summary>
internal sealed record InstancePort(string? Name, int Port, string? Protocol);

/// <summary>Where an instance came from.</summary>
internal enum InstanceSource
{
    /// <summary>Registered by the local runtime (<c>POST /api/v1/registry/instances</c>): a pod with a sidecar.</summary>
    Runtime,

    /// <summary>A WorkloadEntry resource.</summary>
    WorkloadEntry,

    /// <summary>An inline endpoint of a ServiceEntry.</summary>
    ServiceEntry,
}

/// <summary>What the local runtime registers for each running replica.</summary>
internal sealed record InstanceRegistration
{
    public required string Id { get; init; }

    public required string Workload { get; init; }

    public string Namespace { get; init; } = "default";

    public required string Address { get; init; }

    /// <summary>Null: the Workload resource's ports.</summary>
    public ImmutableArray<InstancePort>? Ports { get; init; }

    /// <summary>Null: the Workload resource's labels (plus version and app).</summary>
    public ImmutableSortedDictionary<string, string>? Labels { get; init; }

    /// <summary>Null: the Workload resource's, else "default".</summary>
    public string? ServiceAccount { get; init; }

    public bool Healthy { get; init; } = true;

    /// <summary>Loopback mode: where the instance's sidecar accepts inbound traffic ("127.0.0.1:15106").</summary>
    public string? SidecarInboundAddress { get; init; }

    /// <summary>False for a pod without a sidecar (<c>sidecar.istio.io/inject: "false"</c>): callers send it plaintext.</summary>
    public bool Sidecar { get; init; } = true;
}

/// <summary>A workload instance as the mesh sees it, with its labels, ports and identity resolved.</summary>
internal sealed record WorkloadInstance
{
    public required string Id { get; init; }

    public required string Workload { get; init; }

    public required string Namespace { get; init; }

    /// <summary>An IP address (or, for DNS ServiceEntry endpoints, a host name).</summary>
    public required string Address { get; init; }

    public ImmutableArray<InstancePort> Ports { get; init; } = [];

    public ImmutableSortedDictionary<string, string> Labels { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    public string ServiceAccount { get; init; } = "default";

    public bool Healthy { get; init; } = true;

    public string? SidecarInboundAddress { get; init; }

    /// <summary>Whether the instance runs a sidecar (runtime pods do; entries do when labelled <c>security.istio.io/tlsMode: istio</c>).</summary>
    public bool HasSidecar { get; init; }

    public string? Locality { get; init; }

    public uint Weight { get; init; } = 1;

    public InstanceSource Source { get; init; }

    /// <summary>WorkloadEntry ports by service port name (an endpoint's own port for that service port).</summary>
    public ImmutableSortedDictionary<string, int>? PortsByServicePortName { get; init; }
}

/// <summary>How a service's endpoints are found.</summary>
internal enum ServiceResolution
{
    /// <summary>Endpoints from the registry, served over EDS.</summary>
    Static,

    /// <summary>A DNS name resolved by the proxy (STRICT_DNS).</summary>
    Dns,

    /// <summary>A DNS name resolved by the proxy, one address at a time (LOGICAL_DNS).</summary>
    DnsRoundRobin,

    /// <summary>No endpoints: forward to the original destination (ServiceEntry resolution NONE).</summary>
    Passthrough,
}

/// <summary>A port of a service.</summary>
/// <param name="Name">The port's name, if any.</param>
/// <param name="Port">The service port.</param>
/// <param name="Protocol">Its protocol.</param>
/// <param name="TargetPort">The endpoints' port, by number or container port name.</param>
internal sealed record MeshServicePort(string? Name, int Port, PortProtocol Protocol, IntOrString? TargetPort);

/// <summary>An endpoint of a service: one instance, with the port it serves each service port on.</summary>
internal sealed record ServiceEndpoint
{
    public required WorkloadInstance Instance { get; init; }

    /// <summary>Service port → endpoint port.</summary>
    public required ImmutableSortedDictionary<int, int> Ports { get; init; }

    public string Address => Instance.Address;

    public ImmutableSortedDictionary<string, string> Labels => Instance.Labels;

    public bool Healthy => Instance.Healthy;
}

/// <summary>Whether a service comes from a Kubernetes Service or a ServiceEntry host.</summary>
internal enum ServiceKind
{
    Service,
    ServiceEntry,
}

/// <summary>A service of the mesh: a host name with ports, a VIP, and endpoints.</summary>
internal sealed record MeshService
{
    /// <summary>The fully qualified host ("reviews.default.svc.cluster.local", or a ServiceEntry host).</summary>
    public required string Host { get; init; }

    /// <summary>The short name ("reviews"); for ServiceEntries the host.</summary>
    public required string Name { get; init; }

    public required string Namespace { get; init; }

    public required ServiceKind Kind { get; init; }

    /// <summary>The virtual IP the service is addressed by, or null (headless, external without addresses).</summary>
    public string? Vip { get; init; }

    public ImmutableArray<MeshServicePort> Ports { get; init; } = [];

    /// <summary>Endpoints sorted by address then instance id; unhealthy ones included (marked).</summary>
    public ImmutableArray<ServiceEndpoint> Endpoints { get; init; } = [];

    public ServiceResolution Resolution { get; init; }

    /// <summary>A Kubernetes Service with <c>clusterIP: None</c>: no VIP.</summary>
    public bool Headless { get; init; }

    /// <summary>ServiceEntry location MESH_EXTERNAL.</summary>
    public bool MeshExternal { get; init; }

    /// <summary>The selector that picks the endpoints (Service selector or ServiceEntry workloadSelector).</summary>
    public ImmutableSortedDictionary<string, string>? Selector { get; init; }

    public MeshServicePort? FindPort(int port)
    {
        foreach (var p in Ports)
        {
            if (p.Port == port)
            {
                return p;
            }
        }

        return null;
    }

    /// <summary>Names a client in <paramref name="ns"/> can use: the FQDN, and for Kubernetes services
    /// "name.ns.svc", "name.ns" and (same namespace only) "name".</summary>
    public IEnumerable<string> HostAliases(string? ns)
    {
        yield return Host;
        if (Kind == ServiceKind.Service)
        {
            yield return $"{Name}.{Namespace}.svc";
            yield return $"{Name}.{Namespace}";
            if (ns is null || ns == Namespace)
            {
                yield return Name;
            }
        }
    }
}
