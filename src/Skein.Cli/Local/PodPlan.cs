using Skein.Api.Model;
using Skein.Api.Naming;

namespace Skein.Cli.Local;

/// <summary>One replica of a Workload, ready to run: what the runtime needs from the config.</summary>
internal sealed record PodSpec
{
    public required string Name { get; init; }

    public required string Workload { get; init; }

    public required string Namespace { get; init; }

    public required int Replica { get; init; }

    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>Environment variables in order; a later duplicate wins.</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Env { get; init; }

    public required IReadOnlyList<WorkloadPort> Ports { get; init; }

    /// <summary>The instance's labels: the Workload's, plus version, plus app = name unless set.</summary>
    public required IReadOnlyDictionary<string, string> Labels { get; init; }

    public required string ServiceAccount { get; init; }

    public string? Version { get; init; }

    public WorkloadHealthCheck? HealthCheck { get; init; }

    /// <summary>False when the Workload opts out with Istio's <c>sidecar.istio.io/inject: "false"</c> (annotation or label).</summary>
    public bool Sidecar { get; init; } = true;
}

/// <summary>Turns the Workloads of a config into the list of pods to run, in a stable order.</summary>
internal static class PodPlan
{
    public static IReadOnlyList<PodSpec> From(IEnumerable<Resource> resources)
    {
        var pods = new List<PodSpec>();
        foreach (var workload in resources.OfType<Workload>().OrderBy(w => w.Namespace, StringComparer.Ordinal).ThenBy(w => w.Name, StringComparer.Ordinal))
        {
            var spec = workload.Spec!;
            var labels = MeshConventions.WorkloadLabels(workload);
            var command = (spec.Command ?? []).Concat(spec.Args ?? []).ToList();
            var env = (spec.Env ?? []).Where(e => e.Name is not null).Select(e => KeyValuePair.Create(e.Name!, e.Value ?? "")).ToList();
            for (var replica = 0; replica < (spec.Replicas ?? 1); replica++)
            {
                pods.Add(new PodSpec
                {
                    Name = LocalNames.PodName(workload.Name, workload.Namespace, replica),
                    Workload = workload.Name,
                    Namespace = workload.Namespace,
                    Replica = replica,
                    Command = command,
                    Env = env,
                    Ports = spec.Ports ?? [],
                    Labels = labels,
                    ServiceAccount = spec.ServiceAccount ?? "default",
                    Version = labels.TryGetValue("version", out var version) ? version : null,
                    HealthCheck = spec.HealthCheck,
                    Sidecar = Injected(workload),
                });
            }
        }

        return pods;
    }

    /// <summary>Istio's opt-out: <c>sidecar.istio.io/inject</c> set to "false" as an annotation or a label.</summary>
    private static bool Injected(Workload workload)
    {
        const string Key = "sidecar.istio.io/inject";
        var value = workload.Metadata?.Annotations?.GetValueOrDefault(Key) ?? workload.Metadata?.Labels?.GetValueOrDefault(Key)
            ?? workload.Spec?.Labels?.GetValueOrDefault(Key);
        return !string.Equals(value, "false", StringComparison.OrdinalIgnoreCase);
    }
}
