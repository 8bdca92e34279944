using Skein.Api.Model;
using Skein.Api.Naming;
using Skein.Api.Validation;

namespace Skein.Api.Analysis;

/// <summary>Checks that routing config points at things that exist.</summary>
internal static class RoutingChecks
{
    public static void Run(MeshIndex index, Findings findings)
    {
        var meshHosts = new Dictionary<string, VirtualService>(StringComparer.OrdinalIgnoreCase);
        foreach (var vs in index.Resources.OfType<VirtualService>())
        {
            var spec = vs.Spec!;
            var appliesToMesh = spec.Gateways is not { Count: > 0 } || spec.Gateways.Contains("mesh");
            var hosts = spec.Hosts ?? [];
            for (var i = 0; i < hosts.Count; i++)
            {
                var fqdn = MeshConventions.Qualify(hosts[i], vs.Namespace);
                if (appliesToMesh && !meshHosts.TryAdd(fqdn, vs) && meshHosts[fqdn] != vs)
                {
                    findings.Error(DiagnosticCodes.ConflictingVirtualServices, vs, $"spec.hosts[{i}]",
                        $"host {fqdn} is also routed by {meshHosts[fqdn].DisplayName}; sidecars would apply only one of them");
                }
            }

            foreach (var (path, destination) in Destinations(spec))
            {
                CheckDestination(index, findings, vs, path, destination);
            }
        }

        foreach (var (host, rules) in index.DestinationRules)
        {
            foreach (var dr in rules.Where(r => r.Spec?.WorkloadSelector is null).Skip(1))
            {
                findings.Warning(DiagnosticCodes.ConflictingDestinationRules, dr, "spec.host",
                    $"{host} already has {rules[0].DisplayName}; only one DestinationRule per host is applied");
            }

            if (!host.StartsWith('*') && index.FindService(host) is null)
            {
                findings.Warning(DiagnosticCodes.HostNotFound, rules[0], "spec.host", $"host {host} matches no Service or ServiceEntry");
            }
        }
    }

    private static void CheckDestination(MeshIndex index, Findings findings, VirtualService vs, string path, Destination destination)
    {
        if (destination.Host is not { } host)
        {
            return;
        }

        var fqdn = MeshConventions.Qualify(host, vs.Namespace);
        var service = index.FindService(fqdn);
        if (service is null)
        {
            findings.Error(DiagnosticCodes.HostNotFound, vs, path + ".host", $"host {fqdn} matches no Service or ServiceEntry");
        }
        else if (destination.Port?.Number is { } port && service.Ports.Count > 0 && !service.Ports.Contains(port))
        {
            findings.Error(DiagnosticCodes.PortNotExposed, vs, path + ".port.number",
                $"port {port} is not exposed by {service.Source.DisplayName} (ports: {string.Join(", ", service.Ports.Order())})");
        }

        if (destination.Subset is { } subset)
        {
            var defined = index.DestinationRules.TryGetValue(fqdn, out var rules)
                && rules.Any(r => r.Spec?.Subsets?.Any(s => s.Name == subset) == true);
            if (!defined)
            {
                findings.Error(DiagnosticCodes.SubsetNotDefined, vs, path + ".subset",
                    $"subset \"{subset}\" is not defined by any DestinationRule for {fqdn}");
            }
        }
    }

    /// <summary>Every destination a VirtualService names, with its field path.</summary>
    public static IEnumerable<(string Path, Destination Destination)> Destinations(VirtualServiceSpec spec)
    {
        var http = spec.Http ?? [];
        for (var i = 0; i < http.Count; i++)
        {
            var routes = http[i].Route ?? [];
            for (var j = 0; j < routes.Count; j++)
            {
                if (routes[j].Destination is { } d)
                {
                    yield return ($"spec.http[{i}].route[{j}].destination", d);
                }
            }

            if (http[i].Mirror is { } mirror)
            {
                yield return ($"spec.http[{i}].mirror", mirror);
            }

            var mirrors = http[i].Mirrors ?? [];
            for (var j = 0; j < mirrors.Count; j++)
            {
                if (mirrors[j].Destination is { } d)
                {
                    yield return ($"spec.http[{i}].mirrors[{j}].destination", d);
                }
            }
        }

        foreach (var (name, list) in new[] { ("tcp", spec.Tcp?.Select(t => t.Route)), ("tls", spec.Tls?.Select(t => t.Route)) })
        {
            var routes = list?.ToList() ?? [];
            for (var i = 0; i < routes.Count; i++)
            {
                var destinations = routes[i] ?? [];
                for (var j = 0; j < destinations.Count; j++)
                {
                    if (destinations[j].Destination is { } d)
                    {
                        yield return ($"spec.{name}[{i}].route[{j}].destination", d);
                    }
                }
            }
        }
    }
}
