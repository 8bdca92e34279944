using Skein.Api.Model;

namespace Skein.Api.Naming;

/// <summary>
/// Naming rules the whole mesh shares (analyzer, control plane, CLI), as Istio applies them:
/// short host names resolve in the namespace of the rule that names them.
/// </summary>
public static class MeshConventions
{
    public const string DefaultDomain = "cluster.local";

    /// <summary>Namespaces whose PeerAuthentication without a selector applies to the whole mesh.</summary>
    public static readonly IReadOnlySet<string> RootNamespaces = new HashSet<string>(StringComparer.Ordinal) { "istio-system", "skein-system" };

    /// <summary>"reviews" in "default" → "reviews.default.svc.cluster.local"; "reviews.prod" → "reviews.prod.svc.cluster.local"; FQDNs and wildcards stay.</summary>
    public static string Qualify(string host, string ns, string domain = DefaultDomain)
    {
        if (host.StartsWith('*') || System.Net.IPAddress.TryParse(host, out _))
        {
            return host;
        }

        var dots = host.Count(c => c == '.');
        return dots switch
        {
            0 => $"{host}.{ns}.svc.{domain}",
            1 => $"{host}.svc.{domain}",
            _ => host,
        };
    }

    public static string ServiceHost(string name, string ns, string domain = DefaultDomain) => $"{name}.{ns}.svc.{domain}";

    /// <summary>
    /// The labels a Workload's instances carry: its labels, "version" from the version field, and
    /// "app" set to the Workload's name when the labels do not say otherwise.
    /// </summary>
    public static IReadOnlyDictionary<string, string> WorkloadLabels(Workload workload)
    {
        var labels = new Dictionary<string, string>(workload.Spec?.Labels ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        if (workload.Spec?.Version is { } version)
        {
            labels["version"] = version;
        }

        labels.TryAdd("app", workload.Name);
        return labels;
    }

    /// <summary>Kubernetes selector semantics: every selector label present with the same value; an empty selector selects everything.</summary>
    public static bool Selects(IReadOnlyDictionary<string, string>? selector, IReadOnlyDictionary<string, string> labels)
    {
        if (selector is null)
        {
            return true;
        }

        foreach (var (key, value) in selector)
        {
            if (!labels.TryGetValue(key, out var actual) || actual != value)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>True when a host pattern (possibly "*.suffix") matches a concrete or wildcard host.</summary>
    public static bool HostMatches(string pattern, string host) => HostNames.IsSubsetOf(host, pattern);
}
