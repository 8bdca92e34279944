using Skein.Api.Model;
using Skein.Api.Naming;

namespace Skein.Api.Analysis;

/// <summary>A workload instance group as the analyzer sees it: where it lives and its labels.</summary>
internal sealed record WorkloadInfo(Resource Source, string Namespace, IReadOnlyDictionary<string, string> Labels);

/// <summary>A service host with the ports it exposes and the labels that select its workloads.</summary>
internal sealed record ServiceInfo(Resource Source, string Host, string Namespace, IReadOnlySet<int> Ports, IReadOnlyDictionary<string, string>? Selector);

/// <summary>Lookups over one set of resources, built once per analysis.</summary>
internal sealed class MeshIndex
{
    public MeshIndex(IReadOnlyList<Resource> resources)
    {
        Resources = resources;
        foreach (var resource in resources)
        {
            switch (resource)
            {
                case Service { Spec: { } spec } s:
                    Services.Add(new ServiceInfo(s, MeshConventions.ServiceHost(s.Name, s.Namespace), s.Namespace,
                        (spec.Ports ?? []).Where(p => p.Port is not null).Select(p => p.Port!.Value).ToHashSet(), spec.Selector));
                    break;
                case ServiceEntry { Spec: { } spec } se:
                    var ports = (spec.Ports ?? []).Where(p => p.Number is not null).Select(p => p.Number!.Value).ToHashSet();
                    foreach (var host in spec.Hosts ?? [])
                    {
                        Services.Add(new ServiceInfo(se, host, se.Namespace, ports, spec.WorkloadSelector?.Labels));
                    }

                    break;
                case Workload w:
                    Workloads.Add(new WorkloadInfo(w, w.Namespace, MeshConventions.WorkloadLabels(w)));
                    break;
                case WorkloadEntry { Spec: { } spec } we:
                    Workloads.Add(new WorkloadInfo(we, we.Namespace, spec.Labels ?? new Dictionary<string, string>()));
                    break;
                case DestinationRule { Spec.Host: { } host } dr:
                    var fqdn = MeshConventions.Qualify(host, dr.Namespace);
                    if (!DestinationRules.TryGetValue(fqdn, out var list))
                    {
                        DestinationRules[fqdn] = list = [];
                    }

                    list.Add(dr);
                    break;
            }
        }
    }

    public IReadOnlyList<Resource> Resources { get; }

    public List<ServiceInfo> Services { get; } = [];

    public List<WorkloadInfo> Workloads { get; } = [];

    public Dictionary<string, List<DestinationRule>> DestinationRules { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The service a (qualified) host names, exact first, then a wildcard ServiceEntry.</summary>
    public ServiceInfo? FindService(string fqdn) =>
        Services.FirstOrDefault(s => string.Equals(s.Host, fqdn, StringComparison.OrdinalIgnoreCase))
        ?? Services.FirstOrDefault(s => MeshConventions.HostMatches(s.Host, fqdn));

    /// <summary>Workloads in a namespace whose labels a selector matches (null selector: all of the namespace).</summary>
    public IEnumerable<WorkloadInfo> Selected(string ns, IReadOnlyDictionary<string, string>? selector) =>
        Workloads.Where(w => w.Namespace == ns && MeshConventions.Selects(selector, w.Labels));
}
