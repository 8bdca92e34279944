using System.Globalization;
using System.Text;

namespace Skein.Bench.ControlPlaneScale;

/// <summary>One workload instance of the generated mesh: what the runtime registers and what its sidecar says it is.</summary>
internal sealed record Instance(int Index, string Id, string Workload, string Namespace, string App, string Version, string Address, int Port)
{
    public string ServiceAccount => App;
}

/// <summary>
/// The simulated mesh: <c>services</c> Kubernetes-style Services spread over <c>namespaces</c> namespaces, each with two
/// Workloads (v1 and v2, one replica each, so two instances and two sidecars per service), a DestinationRule with a
/// traffic policy and subsets v1/v2, and a VirtualService with a 90/10 weighted route, timeout and retries.
/// Every service listens on 8080 (http), so every sidecar gets one outbound route configuration with a virtual host
/// per service: the largest RDS resource a change can touch.
/// </summary>
internal sealed class MeshModel
{
    public const int Port = 8080;

    public MeshModel(int services, int namespaces)
    {
        Services = services;
        Namespaces = namespaces;
        var instances = new List<Instance>();
        for (var i = 0; i < services; i++)
        {
            foreach (var version in new[] { "v1", "v2" })
            {
                var n = instances.Count + 10;
                instances.Add(new Instance(
                    instances.Count,
                    $"svc-{i}-{version}-0",
                    $"svc-{i}-{version}",
                    NamespaceOf(i),
                    $"svc-{i}",
                    version,
                    string.Create(CultureInfo.InvariantCulture, $"198.18.{n / 250}.{(n % 250) + 1}"),
                    Port));
            }
        }

        Instances = instances;
    }

    public int Services { get; }

    public int Namespaces { get; }

    public IReadOnlyList<Instance> Instances { get; }

    public string NamespaceOf(int service) => $"ns-{service % Namespaces}";

    public string Host(int service) => $"svc-{service}.{NamespaceOf(service)}.svc.cluster.local";

    /// <summary>The config directory's files: one YAML file per namespace.</summary>
    public IEnumerable<(string File, string Yaml)> ConfigFiles()
    {
        for (var n = 0; n < Namespaces; n++)
        {
            var sb = new StringBuilder();
            for (var i = n; i < Services; i += Namespaces)
            {
                sb.Append(ServiceYaml(i));
                sb.Append(VirtualServiceYaml(i, 90, 10)).Append("---\n");
            }

            yield return ($"ns-{n}.yaml", sb.ToString());
        }
    }

    /// <summary>The VirtualService of service <paramref name="i"/> with the given v1/v2 weights.</summary>
    public string VirtualServiceYaml(int i, int v1, int v2) => string.Create(CultureInfo.InvariantCulture, $$"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: svc-{{i}}, namespace: {{NamespaceOf(i)}}}
        spec:
          hosts: [svc-{{i}}]
          http:
            - route:
                - destination: {host: svc-{{i}}, subset: v1}
                  weight: {{v1}}
                - destination: {host: svc-{{i}}, subset: v2}
                  weight: {{v2}}
              timeout: 5s
              retries: {attempts: 2, perTryTimeout: 2s, retryOn: "5xx,connect-failure,reset"}

        """);

    private string ServiceYaml(int i)
    {
        var ns = NamespaceOf(i);
        var sb = new StringBuilder();
        foreach (var version in new[] { "v1", "v2" })
        {
            sb.Append(CultureInfo.InvariantCulture, $$"""
                apiVersion: skein.dev/v1alpha1
                kind: Workload
                metadata: {name: svc-{{i}}-{{version}}, namespace: {{ns}}}
                spec:
                  command: [app]
                  labels: {app: svc-{{i}}}
                  version: {{version}}
                  serviceAccount: svc-{{i}}
                  ports: [{name: http, port: {{Port}}, protocol: HTTP}]
                ---

                """);
        }

        sb.Append(CultureInfo.InvariantCulture, $$"""
            apiVersion: v1
            kind: Service
            metadata: {name: svc-{{i}}, namespace: {{ns}}}
            spec:
              selector: {app: svc-{{i}}}
              ports: [{name: http, port: {{Port}}}]
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: svc-{{i}}, namespace: {{ns}}}
            spec:
              host: svc-{{i}}
              trafficPolicy:
                connectionPool:
                  tcp: {maxConnections: 100}
                  http: {http1MaxPendingRequests: 100}
                outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50}
              subsets:
                - name: v1
                  labels: {version: v1}
                - name: v2
                  labels: {version: v2}
            ---

            """);
        return sb.ToString();
    }
}
