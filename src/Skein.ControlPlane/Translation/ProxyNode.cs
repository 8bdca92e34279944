using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Registry;
using Skein.Xds.Envoy.Config.Core.V3;

namespace Skein.ControlPlane.Translation;

/// <summary>What kind of client a proxy is; translation gives each a different shape.</summary>
internal enum ProxyMode
{
    /// <summary>A sidecar whose traffic iptables captures (original destination known).</summary>
    Sidecar,

    /// <summary>A sidecar the app uses as its HTTP proxy, all on loopback: endpoints are the destinations' sidecar inbound addresses.</summary>
    Loopback,

    /// <summary>A proxyless gRPC client (<c>xds:///host:port</c>): API listeners per target, round robin, no redirects.</summary>
    Proxyless,
}

/// <summary>A port the proxy's application listens on.</summary>
internal sealed record AppPort(int Port, string? Name, PortProtocol Protocol);

/// <summary>
/// The identity of a proxy as translation sees it, read from the xDS <c>Node</c> of its first request.
/// Node metadata keys (Istio's names where Istio has one; all optional):
/// <list type="table">
///   <item><term><c>NAMESPACE</c></term><description>string: the workload's namespace (else from the node id, else "default").</description></item>
///   <item><term><c>WORKLOAD_NAME</c></term><description>string: the Workload (skein.dev) or WorkloadEntry name.</description></item>
///   <item><term><c>INSTANCE_ID</c></term><description>string: the id the runtime registered the replica under; labels, ports and service account default to that instance's.</description></item>
///   <item><term><c>LABELS</c></term><description>struct of strings: the workload's labels (sourceLabels, rate limit and policy selectors).</description></item>
///   <item><term><c>SERVICE_ACCOUNT</c></term><description>string: the workload's service account.</description></item>
///   <item><term><c>APP_PORTS</c></term><description>list of numbers, list of {port, name, protocol}, or "9080,9090": the ports the app listens on (one inbound filter chain and cluster each).</description></item>
///   <item><term><c>INSTANCE_IPS</c></term><description>string, comma-separated: the instance's addresses.</description></item>
///   <item><term><c>MODE</c></term><description>"sidecar" (default; also "transparent"), "loopback" (also "explicit"), or "proxyless".</description></item>
///   <item><term><c>GENERATOR</c></term><description>"grpc" marks a proxyless gRPC client (Istio's convention), as does a user agent starting with "gRPC".</description></item>
///   <item><term><c>ENVOY_PROMETHEUS_PORT</c></term><description>number or string: the port of the proxy's <c>/stats/prometheus</c> on its instance address (default 15090); the telemetry scraper reads it.</description></item>
/// </list>
/// Without metadata, an Istio-style node id <c>sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local</c> supplies the
/// address and namespace.
/// </summary>
internal sealed record ProxyNode
{
    public const string NamespaceKey = "NAMESPACE";
    public const string WorkloadNameKey = "WORKLOAD_NAME";
    public const string InstanceIdKey = "INSTANCE_ID";
    public const string LabelsKey = "LABELS";
    public const string ServiceAccountKey = "SERVICE_ACCOUNT";
    public const string AppPortsKey = "APP_PORTS";
    public const string InstanceIpsKey = "INSTANCE_IPS";
    public const string ModeKey = "MODE";
    public const string GeneratorKey = "GENERATOR";
    public const string PrometheusPortKey = "ENVOY_PROMETHEUS_PORT";

    public required string Id { get; init; }

    public string Namespace { get; init; } = "default";

    public string? WorkloadName { get; init; }

    public string? InstanceId { get; init; }

    /// <summary>Null: not given by the node (taken from the registered instance, if any).</summary>
    public ImmutableSortedDictionary<string, string>? Labels { get; init; }

    public string? ServiceAccount { get; init; }

    /// <summary>Null: not given by the node (taken from the registered instance, if any).</summary>
    public ImmutableArray<AppPort>? AppPorts { get; init; }

    public ImmutableArray<string> IpAddresses { get; init; } = [];

    public ProxyMode Mode { get; init; }

    /// <summary>The client's user agent (e.g. "envoy", "skein-proxy", "gRPC Node Pure-JS").</summary>
    public string? UserAgent { get; init; }

    /// <summary>Where the proxy serves <c>/stats/prometheus</c> on its address; null: not said (15090).</summary>
    public int? PrometheusPort { get; init; }

    /// <summary>The node's <c>locality</c> as "region/zone/subzone" (null when not set).</summary>
    public string? Locality { get; init; }

    /// <summary>Reads a proxy's identity from its xDS node.</summary>
    public static ProxyNode FromNode(Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var fields = node.Metadata?.Fields;
        string? Str(string key) => fields is not null && fields.TryGetValue(key, out var v) && v.KindCase == Value.KindOneofCase.StringValue && v.StringValue.Length > 0
            ? v.StringValue
            : null;

        // Istio node id: type~ip~pod.namespace~namespace.svc.cluster.local
        string? idNamespace = null;
        string? idIp = null;
        var parts = node.Id.Split('~');
        if (parts.Length == 4)
        {
            idIp = parts[1].Length > 0 ? parts[1] : null;
            var dot = parts[2].LastIndexOf('.');
            idNamespace = dot > 0 && dot < parts[2].Length - 1 ? parts[2][(dot + 1)..] : null;
        }

        var mode = (Str(ModeKey)?.ToLowerInvariant()) switch
        {
            "loopback" or "explicit" => ProxyMode.Loopback,
            "proxyless" or "grpc" => ProxyMode.Proxyless,
            "sidecar" or "transparent" => ProxyMode.Sidecar,
            _ => string.Equals(Str(GeneratorKey), "grpc", StringComparison.OrdinalIgnoreCase)
                || node.UserAgentName.StartsWith("gRPC", StringComparison.Ordinal)
                ? ProxyMode.Proxyless
                : ProxyMode.Sidecar,
        };

        ImmutableSortedDictionary<string, string>? labels = null;
        if (fields is not null && fields.TryGetValue(LabelsKey, out var labelValue) && labelValue.KindCase == Value.KindOneofCase.StructValue)
        {
            var b = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            foreach (var (k, v) in labelValue.StructValue.Fields)
            {
                if (v.KindCase == Value.KindOneofCase.StringValue)
                {
                    b[k] = v.StringValue;
                }
            }

            labels = b.ToImmutable();
        }

        ImmutableArray<string> ips = Str(InstanceIpsKey) is { } ipList
            ? [.. ipList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)]
            : idIp is null ? [] : [idIp];

        return new ProxyNode
        {
            Id = node.Id,
            Namespace = Str(NamespaceKey) ?? idNamespace ?? "default",
            WorkloadName = Str(WorkloadNameKey),
            InstanceId = Str(InstanceIdKey),
            Labels = labels,
            ServiceAccount = Str(ServiceAccountKey),
            AppPorts = fields is not null && fields.TryGetValue(AppPortsKey, out var ports) ? ParsePorts(ports) : null,
            IpAddresses = ips,
            Mode = mode,
            UserAgent = node.UserAgentName.Length > 0 ? node.UserAgentName : null,
            PrometheusPort = fields is not null && fields.TryGetValue(PrometheusPortKey, out var statsPort) ? ParsePort(statsPort) : null,
            Locality = node.Locality is { } l && (l.Region.Length > 0 || l.Zone.Length > 0 || l.SubZone.Length > 0)
                ? $"{l.Region}/{l.Zone}/{l.SubZone}".TrimEnd('/')
                : null,
        };
    }

    private static int? ParsePort(Value value) => value.KindCase switch
    {
        Value.KindOneofCase.NumberValue when value.NumberValue is >= 1 and <= 65535 => (int)value.NumberValue,
        Value.KindOneofCase.StringValue when int.TryParse(value.StringValue, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is >= 1 and <= 65535 => p,
        _ => null,
    };

    private static ImmutableArray<AppPort>? ParsePorts(Value value)
    {
        var list = new List<AppPort>();
        switch (value.KindCase)
        {
            case Value.KindOneofCase.StringValue:
                foreach (var part in value.StringValue.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    if (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and <= 65535)
                    {
                        list.Add(new AppPort(p, null, PortProtocol.Unknown));
                    }
                }

                break;
            case Value.KindOneofCase.ListValue:
                foreach (var item in value.ListValue.Values)
                {
                    if (item.KindCase == Value.KindOneofCase.NumberValue && item.NumberValue is > 0 and <= 65535)
                    {
                        list.Add(new AppPort((int)item.NumberValue, null, PortProtocol.Unknown));
                    }
                    else if (item.KindCase == Value.KindOneofCase.StructValue)
                    {
                        var f = item.StructValue.Fields;
                        var number = f.TryGetValue("port", out var pv) || f.TryGetValue("containerPort", out pv) ? pv.NumberValue : 0;
                        if (number is > 0 and <= 65535)
                        {
                            var name = f.TryGetValue("name", out var nv) && nv.KindCase == Value.KindOneofCase.StringValue ? nv.StringValue : null;
                            var protocol = f.TryGetValue("protocol", out var prv) && prv.KindCase == Value.KindOneofCase.StringValue ? prv.StringValue : null;
                            list.Add(new AppPort((int)number, name, PortProtocols.FromName(protocol)));
                        }
                    }
                }

                break;
            default:
                return null;
        }

        return [.. list.DistinctBy(p => p.Port).OrderBy(p => p.Port)];
    }
}

/// <summary>
/// A proxy with everything translation needs resolved against a snapshot: the node's own metadata first,
/// then the registered instance (by <c>INSTANCE_ID</c>, else by address), then the Workload resource.
/// </summary>
internal sealed record ResolvedProxy
{
    public required ProxyNode Node { get; init; }

    public required string Namespace { get; init; }

    public string? WorkloadName { get; init; }

    public ImmutableSortedDictionary<string, string> Labels { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    public string ServiceAccount { get; init; } = "default";

    /// <summary>App ports with their protocol resolved (the node's, else the services that select this workload).</summary>
    public ImmutableArray<AppPort> AppPorts { get; init; } = [];

    public ProxyMode Mode => Node.Mode;

    /// <summary>The instance the proxy runs beside, when registered.</summary>
    public WorkloadInstance? Instance { get; init; }

    /// <summary>The proxy's locality ("region/zone/subzone"): the node's, else its instance's; null when unknown.</summary>
    public string? Locality => Node.Locality ?? Instance?.Locality;

    /// <summary>Only the labels that some sourceLabels match reads: routes are the same for proxies that agree on these.</summary>
    public string RouteLabelKey { get; init; } = "";

    /// <summary>A key that is equal for proxies whose generated resources are equal (Istio's "proxy shape").</summary>
    public string ShapeKey { get; init; } = "";

    public static ResolvedProxy Resolve(MeshSnapshot snapshot, ProxyNode node)
    {
        WorkloadInstance? instance = null;
        if (node.InstanceId is { } id)
        {
            snapshot.InstancesById.TryGetValue(id, out instance);
        }

        if (instance is null && node.Mode != ProxyMode.Proxyless)
        {
            foreach (var candidate in snapshot.Instances)
            {
                if (candidate.Source == InstanceSource.Runtime
                    && node.IpAddresses.Contains(candidate.Address)
                    && (node.WorkloadName is null || node.WorkloadName == candidate.Workload))
                {
                    instance = candidate;
                    break;
                }
            }
        }

        var ns = instance?.Namespace ?? node.Namespace;
        var workloadName = node.WorkloadName ?? instance?.Workload;
        var workload = workloadName is null ? null : snapshot.Workloads.FirstOrDefault(w => w.Name == workloadName && w.Namespace == ns);
        var labels = node.Labels
            ?? instance?.Labels
            ?? (workload is not null ? Skein.Api.Naming.MeshConventions.WorkloadLabels(workload).ToImmutableSortedDictionary(StringComparer.Ordinal) : null)
            ?? ImmutableSortedDictionary<string, string>.Empty;
        var serviceAccount = node.ServiceAccount ?? instance?.ServiceAccount ?? workload?.Spec?.ServiceAccount ?? "default";

        ImmutableArray<AppPort> ports = node.AppPorts is { } fromNode ? fromNode
            : instance is not null ? [.. instance.Ports.Select(p => new AppPort(p.Port, p.Name, PortProtocols.FromName(p.Protocol)))]
            : [.. (workload?.Spec?.Ports ?? []).Where(p => p.Port is not null).Select(p => new AppPort(p.Port!.Value, p.Name, PortProtocols.FromName(p.Protocol)))];
        if (node.Mode == ProxyMode.Proxyless)
        {
            ports = [];
        }

        // A port without a declared protocol takes the protocol of a service port that targets it.
        var resolvedPorts = ImmutableArray.CreateBuilder<AppPort>();
        foreach (var port in ports.DistinctBy(p => p.Port).OrderBy(p => p.Port))
        {
            var protocol = port.Protocol;
            if (protocol == PortProtocol.Unknown)
            {
                foreach (var service in snapshot.Services)
                {
                    if (service.Namespace != ns || service.Selector is null || !Skein.Api.Naming.MeshConventions.Selects(service.Selector, labels))
                    {
                        continue;
                    }

                    foreach (var sp in service.Ports)
                    {
                        int? target = sp.TargetPort switch
                        {
                            { Number: { } n } => n,
                            { Name: { } tn } => tn == port.Name ? port.Port : null,
                            _ => sp.Port,
                        };
                        if (target == port.Port && sp.Protocol != PortProtocol.Unknown)
                        {
                            protocol = sp.Protocol;
                            break;
                        }
                    }

                    if (protocol != PortProtocol.Unknown)
                    {
                        break;
                    }
                }
            }

            resolvedPorts.Add(port with { Protocol = protocol });
        }

        var routeLabels = new StringBuilder();
        foreach (var key in snapshot.SourceLabelKeys)
        {
            if (labels.TryGetValue(key, out var v))
            {
                routeLabels.Append(key).Append('=').Append(v).Append(';');
            }
        }

        var shape = new StringBuilder();
        shape.Append(node.Mode).Append('|').Append(ns).Append('|').Append(workloadName).Append('|').Append(serviceAccount).Append('|');
        foreach (var (k, v) in labels)
        {
            shape.Append(k).Append('=').Append(v).Append(';');
        }

        shape.Append('|');
        foreach (var p in resolvedPorts)
        {
            shape.Append(p.Port).Append('/').Append(p.Protocol).Append(',');
        }

        return new ResolvedProxy
        {
            Node = node,
            Namespace = ns,
            WorkloadName = workloadName,
            Labels = labels,
            ServiceAccount = serviceAccount,
            AppPorts = resolvedPorts.ToImmutable(),
            Instance = instance,
            RouteLabelKey = routeLabels.ToString(),
            ShapeKey = shape.ToString(),
        };
    }
}
