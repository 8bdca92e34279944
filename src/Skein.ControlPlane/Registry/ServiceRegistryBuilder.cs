using System.Collections.Immutable;
using System.Net;
using Skein.Api.Model;
using Skein.Api.Naming;
using Skein.ControlPlane.ConfigStore;

namespace Skein.ControlPlane.Registry;

/// <summary>The workload instances and services of one version of the mesh.</summary>
internal sealed record ServiceRegistry(ImmutableArray<WorkloadInstance> Instances, ImmutableArray<MeshService> Services);

/// <summary>
/// Builds the service registry from config and registered instances, as Kubernetes and Istio would:
/// a Service's endpoints are the instances (pods and WorkloadEntries) in its namespace whose labels match
/// its selector, each with the port its targetPort names; a ServiceEntry's are its inline endpoints or the
/// instances its workloadSelector picks. Pure apart from the VIP allocator, which keeps addresses stable.
/// </summary>
internal static class ServiceRegistryBuilder
{
    /// <summary>Label that marks a WorkloadEntry as running a sidecar (Istio's auto mTLS convention).</summary>
    public const string TlsModeLabel = "security.istio.io/tlsMode";

    /// <param name="config">The config in force.</param>
    /// <param name="registrations">The registered instances.</param>
    /// <param name="vips">Keeps service addresses stable.</param>
    /// <param name="previous">The services of the previous snapshot: a service whose content did not change is
    /// kept as the same object, so that comparing snapshots is cheap.</param>
    public static ServiceRegistry Build(ConfigSnapshot config, IEnumerable<InstanceRegistration> registrations, VipAllocator vips, ImmutableArray<MeshService> previous = default)
    {
        var workloads = config.Resources.OfType<Workload>().ToDictionary(w => (w.Namespace, w.Name));
        var instances = new List<WorkloadInstance>();
        foreach (var r in registrations)
        {
            instances.Add(Resolve(r, workloads.GetValueOrDefault((r.Namespace, r.Workload))));
        }

        foreach (var we in config.Resources.OfType<WorkloadEntry>())
        {
            if (FromEntry(we.Spec!, $"workloadentry/{we.Namespace}/{we.Name}", we.Name, we.Namespace, InstanceSource.WorkloadEntry) is { } instance)
            {
                instances.Add(instance);
            }
        }

        instances.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));

        // Instances by namespace (in id order): a selector only picks instances of its own namespace.
        var byNamespace = new Dictionary<string, List<WorkloadInstance>>(StringComparer.Ordinal);
        foreach (var instance in instances)
        {
            if (!byNamespace.TryGetValue(instance.Namespace, out var list))
            {
                byNamespace[instance.Namespace] = list = [];
            }

            list.Add(instance);
        }

        var services = new List<MeshService>();
        var hosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var s in config.Resources.OfType<Service>())
        {
            if (BuildService(s, byNamespace.GetValueOrDefault(s.Namespace) ?? []) is { } service && hosts.Add(service.Host))
            {
                services.Add(service);
            }
        }

        foreach (var se in config.Resources.OfType<ServiceEntry>())
        {
            foreach (var service in BuildServiceEntry(se, instances))
            {
                if (hosts.Add(service.Host))
                {
                    services.Add(service);
                }
            }
        }

        services.Sort((a, b) => string.CompareOrdinal(a.Host, b.Host));

        // Virtual IPs: explicit ones win; Kubernetes services and mesh-internal entries get one allocated.
        var wanted = services
            .Where(s => s.Vip is not null || WantsVip(s))
            .Select(s => KeyValuePair.Create(s.Host, s.Vip));
        var assigned = vips.Assign(wanted);
        for (var i = 0; i < services.Count; i++)
        {
            if (assigned.TryGetValue(services[i].Host, out var vip) && services[i].Vip != vip)
            {
                services[i] = services[i] with { Vip = vip };
            }
        }

        if (!previous.IsDefaultOrEmpty)
        {
            var old = new Dictionary<string, MeshService>(previous.Length, StringComparer.OrdinalIgnoreCase);
            foreach (var s in previous)
            {
                old.TryAdd(s.Host, s);
            }

            for (var i = 0; i < services.Count; i++)
            {
                if (old.TryGetValue(services[i].Host, out var same) && Mesh.RegistryEquality.Same(same, services[i]))
                {
                    services[i] = same;
                }
            }
        }

        return new ServiceRegistry([.. instances], [.. services]);
    }

    private static bool WantsVip(MeshService s) =>
        s.Kind == ServiceKind.Service
            ? s.Resolution == ServiceResolution.Static && !s.Headless
            : !s.MeshExternal && !s.Host.StartsWith('*');

    private static WorkloadInstance Resolve(InstanceRegistration r, Workload? workload)
    {
        var labels = r.Labels
            ?? (workload is not null
                ? MeshConventions.WorkloadLabels(workload).ToImmutableSortedDictionary(StringComparer.Ordinal)
                : ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("app", r.Workload)]));
        var ports = r.Ports
            ?? [.. (workload?.Spec?.Ports ?? []).Where(p => p.Port is not null).Select(p => new InstancePort(p.Name, p.Port!.Value, p.Protocol))];
        return new WorkloadInstance
        {
            Id = r.Id,
            Workload = r.Workload,
            Namespace = r.Namespace,
            Address = r.Address,
            Ports = ports,
            Labels = labels,
            ServiceAccount = r.ServiceAccount ?? workload?.Spec?.ServiceAccount ?? "default",
            Healthy = r.Healthy,
            SidecarInboundAddress = r.SidecarInboundAddress,
            HasSidecar = r.Sidecar,
            Source = InstanceSource.Runtime,
        };
    }

    private static WorkloadInstance? FromEntry(WorkloadEntrySpec spec, string id, string workload, string ns, InstanceSource source)
    {
        if (string.IsNullOrEmpty(spec.Address) || spec.Address.StartsWith("unix://", StringComparison.Ordinal))
        {
            return null; // network-only entries and unix sockets have nothing a sidecar can dial
        }

        var labels = (spec.Labels ?? new Dictionary<string, string>()).ToImmutableSortedDictionary(StringComparer.Ordinal);
        var byName = spec.Ports?.ToImmutableSortedDictionary(StringComparer.Ordinal);
        return new WorkloadInstance
        {
            Id = id,
            Workload = workload,
            Namespace = ns,
            Address = spec.Address,
            Ports = [.. (byName ?? ImmutableSortedDictionary<string, int>.Empty).Select(p => new InstancePort(p.Key, p.Value, null))],
            Labels = labels,
            ServiceAccount = spec.ServiceAccount ?? "default",
            HasSidecar = labels.TryGetValue(TlsModeLabel, out var mode) && mode == "istio",
            Locality = spec.Locality,
            Weight = spec.Weight is > 0 and var w ? (uint)w : 1,
            Source = source,
            PortsByServicePortName = byName,
        };
    }

    private static MeshService? BuildService(Service s, List<WorkloadInstance> instances)
    {
        var spec = s.Spec!;
        var ports = (spec.Ports ?? [])
            .Where(p => p.Port is not null && (p.Protocol ?? ServicePortProtocol.Tcp) == ServicePortProtocol.Tcp)
            .Select(p => new MeshServicePort(p.Name, p.Port!.Value, PortProtocols.Parse(p.AppProtocol, p.Name), p.TargetPort))
            .ToImmutableArray();
        var host = MeshConventions.ServiceHost(s.Name, s.Namespace);
        var vip = spec.ClusterIP is { Length: > 0 } ip && ip != "None" && IPAddress.TryParse(ip, out _) ? ip : null;

        if (spec.Type == ServiceType.ExternalName)
        {
            if (string.IsNullOrEmpty(spec.ExternalName))
            {
                return null;
            }

            var target = new WorkloadInstance
            {
                Id = $"externalname/{s.Namespace}/{s.Name}",
                Workload = s.Name,
                Namespace = s.Namespace,
                Address = spec.ExternalName,
                Source = InstanceSource.ServiceEntry,
            };
            return new MeshService
            {
                Host = host,
                Name = s.Name,
                Namespace = s.Namespace,
                Kind = ServiceKind.Service,
                Ports = ports,
                Resolution = ServiceResolution.Dns,
                MeshExternal = true,
                Endpoints = [.. ports.Length == 0 ? [] : new[] { new ServiceEndpoint { Instance = target, Ports = ports.ToImmutableSortedDictionary(p => p.Port, p => p.Port) } }],
            };
        }

        var selector = spec.Selector?.ToImmutableSortedDictionary(StringComparer.Ordinal);
        var endpoints = new List<ServiceEndpoint>();
        if (selector is not null)
        {
            foreach (var instance in instances)
            {
                if (instance.Namespace == s.Namespace && MeshConventions.Selects(selector, instance.Labels)
                    && EndpointPorts(instance, ports) is { Count: > 0 } map)
                {
                    endpoints.Add(new ServiceEndpoint { Instance = instance, Ports = map });
                }
            }
        }

        return new MeshService
        {
            Host = host,
            Name = s.Name,
            Namespace = s.Namespace,
            Kind = ServiceKind.Service,
            Vip = vip,
            Headless = spec.ClusterIP == "None",
            Ports = ports,
            Selector = selector,
            Endpoints = Sorted(endpoints),
            Resolution = ServiceResolution.Static,
        };
    }

    private static IEnumerable<MeshService> BuildServiceEntry(ServiceEntry se, List<WorkloadInstance> instances)
    {
        var spec = se.Spec!;
        var ports = (spec.Ports ?? [])
            .Where(p => p.Number is not null)
            .Select(p => new MeshServicePort(
                p.Name,
                p.Number!.Value,
                PortProtocols.FromName(p.Protocol) is var fromProtocol && fromProtocol != PortProtocol.Unknown ? fromProtocol : PortProtocols.Parse(null, p.Name),
                p.TargetPort is { } t ? new IntOrString(t, null) : null))
            .ToImmutableArray();
        var resolution = spec.Resolution switch
        {
            ServiceEntryResolution.Static => ServiceResolution.Static,
            ServiceEntryResolution.Dns or ServiceEntryResolution.DynamicDns => ServiceResolution.Dns,
            ServiceEntryResolution.DnsRoundRobin => ServiceResolution.DnsRoundRobin,
            _ => ServiceResolution.Passthrough,
        };
        var external = spec.Location != ServiceEntryLocation.MeshInternal;
        var vip = (spec.Addresses ?? []).FirstOrDefault(a => !a.Contains('/') && IPAddress.TryParse(a, out _));

        var members = new List<WorkloadInstance>();
        var selector = spec.WorkloadSelector?.Labels?.ToImmutableSortedDictionary(StringComparer.Ordinal);
        if (spec.Endpoints is { } inline)
        {
            for (var i = 0; i < inline.Count; i++)
            {
                if (FromEntry(inline[i], $"serviceentry/{se.Namespace}/{se.Name}/{i}", se.Name, se.Namespace, InstanceSource.ServiceEntry) is { } instance)
                {
                    members.Add(instance);
                }
            }
        }
        else if (selector is not null)
        {
            members.AddRange(instances.Where(i => i.Namespace == se.Namespace && MeshConventions.Selects(selector, i.Labels)));
        }

        foreach (var host in spec.Hosts ?? [])
        {
            var endpoints = new List<ServiceEndpoint>();
            var hostMembers = members;
            if (hostMembers.Count == 0 && resolution is ServiceResolution.Dns or ServiceResolution.DnsRoundRobin && !host.StartsWith('*'))
            {
                // DNS without endpoints: the proxy resolves the host itself.
                hostMembers = [new WorkloadInstance { Id = $"serviceentry/{se.Namespace}/{se.Name}/{host}", Workload = se.Name, Namespace = se.Namespace, Address = host, Source = InstanceSource.ServiceEntry }];
            }

            foreach (var instance in hostMembers)
            {
                var map = ImmutableSortedDictionary.CreateBuilder<int, int>();
                foreach (var port in ports)
                {
                    map[port.Port] = port.Name is not null && instance.PortsByServicePortName?.TryGetValue(port.Name, out var named) == true
                        ? named
                        : port.TargetPort?.Number ?? port.Port;
                }

                if (map.Count > 0)
                {
                    endpoints.Add(new ServiceEndpoint { Instance = instance, Ports = map.ToImmutable() });
                }
            }

            yield return new MeshService
            {
                Host = host,
                Name = host,
                Namespace = se.Namespace,
                Kind = ServiceKind.ServiceEntry,
                Vip = vip,
                Ports = ports,
                Endpoints = Sorted(endpoints),
                Resolution = resolution,
                MeshExternal = external,
                Selector = selector,
            };
        }
    }

    /// <summary>The endpoint port of each service port for one instance (targetPort by number or name).</summary>
    private static ImmutableSortedDictionary<int, int> EndpointPorts(WorkloadInstance instance, ImmutableArray<MeshServicePort> ports)
    {
        var map = ImmutableSortedDictionary.CreateBuilder<int, int>();
        foreach (var port in ports)
        {
            if (port.Name is not null && instance.PortsByServicePortName?.TryGetValue(port.Name, out var fromEntry) == true)
            {
                map[port.Port] = fromEntry;
            }
            else if (port.TargetPort is { Number: { } number })
            {
                map[port.Port] = number;
            }
            else if (port.TargetPort is { Name: { } name })
            {
                foreach (var p in instance.Ports)
                {
                    if (p.Name == name)
                    {
                        map[port.Port] = p.Port;
                        break;
                    }
                }
            }
            else
            {
                map[port.Port] = port.Port;
            }
        }

        return map.ToImmutable();
    }

    private static ImmutableArray<ServiceEndpoint> Sorted(List<ServiceEndpoint> endpoints)
    {
        endpoints.Sort((a, b) =>
        {
            var c = string.CompareOrdinal(a.Address, b.Address);
            return c != 0 ? c : string.CompareOrdinal(a.Instance.Id, b.Instance.Id);
        });
        return [.. endpoints];
    }
}
