using Skein.Api.Model;
using Skein.Api.Naming;
using Skein.Api.Validation;

namespace Skein.Api.Analysis;

/// <summary>Checks that security policies select something and do not contradict each other.</summary>
internal static class SecurityChecks
{
    public static void Run(MeshIndex index, Findings findings)
    {
        foreach (var policy in index.Resources.OfType<AuthorizationPolicy>())
        {
            if (policy.Spec?.Selector?.MatchLabels is { } labels && !index.Selected(policy.Namespace, labels).Any())
            {
                findings.Warning(DiagnosticCodes.SelectorMatchesNothing, policy, "spec.selector.matchLabels",
                    $"selector {Format(labels)} matches no workload in namespace {policy.Namespace}");
            }
        }

        var peerPolicies = index.Resources.OfType<PeerAuthentication>().ToList();
        foreach (var policy in peerPolicies)
        {
            if (policy.Spec?.Selector?.MatchLabels is { } labels && !index.Selected(policy.Namespace, labels).Any())
            {
                findings.Warning(DiagnosticCodes.SelectorMatchesNothing, policy, "spec.selector.matchLabels",
                    $"selector {Format(labels)} matches no workload in namespace {policy.Namespace}");
            }
        }

        CheckPlaintextToStrict(index, findings, peerPolicies);
    }

    /// <summary>A DestinationRule that turns TLS off towards workloads whose effective PeerAuthentication is STRICT breaks every call.</summary>
    private static void CheckPlaintextToStrict(MeshIndex index, Findings findings, List<PeerAuthentication> peerPolicies)
    {
        foreach (var (host, rules) in index.DestinationRules)
        {
            var service = index.FindService(host);
            if (service?.Selector is null)
            {
                continue;
            }

            foreach (var rule in rules)
            {
                foreach (var (path, tls) in TlsSettings(rule.Spec!))
                {
                    if (tls.Mode != ClientTlsMode.Disable)
                    {
                        continue;
                    }

                    foreach (var workload in index.Selected(service.Namespace, service.Selector))
                    {
                        if (EffectivePolicy(peerPolicies, workload) is { Spec.Mtls.Mode: MtlsMode.Strict } strict)
                        {
                            findings.Error(DiagnosticCodes.MtlsConflict, rule, path + ".mode",
                                $"tls mode DISABLE sends plaintext to {workload.Source.DisplayName}, which {strict.DisplayName} requires STRICT mTLS for; every call will fail");
                            break;
                        }
                    }
                }
            }
        }
    }

    /// <summary>The most specific PeerAuthentication for a workload: workload selector, then namespace, then mesh root.</summary>
    internal static PeerAuthentication? EffectivePolicy(IReadOnlyList<PeerAuthentication> policies, WorkloadInfo workload) =>
        policies.Where(p => p.Namespace == workload.Namespace && p.Spec?.Selector?.MatchLabels is { } l && MeshConventions.Selects(l, workload.Labels)).OrderBy(p => p.Name, StringComparer.Ordinal).FirstOrDefault()
        ?? policies.Where(p => p.Namespace == workload.Namespace && p.Spec?.Selector?.MatchLabels is null).OrderBy(p => p.Name, StringComparer.Ordinal).FirstOrDefault()
        ?? policies.Where(p => MeshConventions.RootNamespaces.Contains(p.Namespace) && p.Spec?.Selector?.MatchLabels is null).OrderBy(p => p.Name, StringComparer.Ordinal).FirstOrDefault();

    private static IEnumerable<(string Path, ClientTlsSettings Tls)> TlsSettings(DestinationRuleSpec spec)
    {
        if (spec.TrafficPolicy?.Tls is { } tls)
        {
            yield return ("spec.trafficPolicy.tls", tls);
        }

        var ports = spec.TrafficPolicy?.PortLevelSettings ?? [];
        for (var i = 0; i < ports.Count; i++)
        {
            if (ports[i].Tls is { } portTls)
            {
                yield return ($"spec.trafficPolicy.portLevelSettings[{i}].tls", portTls);
            }
        }

        var subsets = spec.Subsets ?? [];
        for (var i = 0; i < subsets.Count; i++)
        {
            if (subsets[i].TrafficPolicy?.Tls is { } subsetTls)
            {
                yield return ($"spec.subsets[{i}].trafficPolicy.tls", subsetTls);
            }
        }
    }

    private static string Format(IReadOnlyDictionary<string, string> labels) =>
        "{" + string.Join(", ", labels.Select(l => $"{l.Key}: {l.Value}")) + "}";
}
