using System.Collections.Immutable;
using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging.Abstractions;
using Skein.Api.Loading;
using Skein.Api.Model;
using Skein.Api.Validation;
using Skein.ControlPlane.ConfigStore;
using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Registry;
using Skein.ControlPlane.Translation;
using Skein.Xds.Envoy.Config.Core.V3;

namespace Skein.ControlPlane.Tests;

/// <summary>
/// Builds mesh snapshots from YAML as the control plane would, with every Workload replica registered as a
/// running instance at a predictable address (198.18.0.10, .11, … in namespace/name order).
/// </summary>
internal static class TestMesh
{
    public static readonly DateTimeOffset Epoch = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static MeshSnapshot Build(string yaml, MeshSettings? settings = null, Func<InstanceRegistration, InstanceRegistration>? adjust = null)
    {
        var loaded = ConfigLoader.LoadText(yaml, "input.yaml");
        var errors = loaded.Diagnostics.Where(d => d.Severity == Severity.Error).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        var store = new MeshConfigStore(DataDirectory.None, NullLogger<MeshConfigStore>.Instance);
        var result = store.ReplaceDirectory(loaded, "testdata");
        Assert.True(result.Accepted, string.Join("\n", result.Diagnostics));
        var registrations = Registrations(store.Current.Resources.OfType<Workload>()).Select(r => adjust?.Invoke(r) ?? r);
        var registry = ServiceRegistryBuilder.Build(store.Current, registrations, new VipAllocator(DataDirectory.None));
        return MeshSnapshot.Create(1, Epoch, store.Current, registry, settings ?? new MeshSettings());
    }

    public static IEnumerable<InstanceRegistration> Registrations(IEnumerable<Workload> workloads)
    {
        var n = 10;
        foreach (var w in workloads.OrderBy(w => w.Namespace, StringComparer.Ordinal).ThenBy(w => w.Name, StringComparer.Ordinal))
        {
            for (var i = 0; i < (w.Spec?.Replicas ?? 1); i++)
            {
                yield return new InstanceRegistration
                {
                    Id = w.Namespace == "default" ? $"{w.Name}-{i}" : $"{w.Name}-{w.Namespace}-{i}",
                    Workload = w.Name,
                    Namespace = w.Namespace,
                    Address = string.Create(CultureInfo.InvariantCulture, $"198.18.{n / 250}.{n % 250}"),
                };
                n++;
            }
        }
    }

    /// <summary>The node a sidecar of <paramref name="instanceId"/> would send.</summary>
    public static ProxyNode Node(string instanceId, string mode = "sidecar", string ns = "default") =>
        ProxyNode.FromNode(NodeMessage(instanceId, mode, ns));

    /// <summary>The xDS node of a sidecar beside a registered instance.</summary>
    public static Node NodeMessage(string instanceId, string mode = "sidecar", string ns = "default")
    {
        var node = new Node { Id = $"sidecar~0.0.0.0~{instanceId}.{ns}~{ns}.svc.cluster.local", UserAgentName = "skein-proxy" };
        node.Metadata = new Struct();
        node.Metadata.Fields[ProxyNode.InstanceIdKey] = Value.ForString(instanceId);
        node.Metadata.Fields[ProxyNode.NamespaceKey] = Value.ForString(ns);
        node.Metadata.Fields[ProxyNode.ModeKey] = Value.ForString(mode);
        return node;
    }

    /// <summary>A node with explicit labels and no instance (a client that is not registered).</summary>
    public static ProxyNode Client(string workload, IReadOnlyDictionary<string, string> labels, string ns = "default", string mode = "sidecar")
    {
        var node = new Node { Id = $"sidecar~198.18.9.9~{workload}.{ns}~{ns}.svc.cluster.local" };
        node.Metadata = new Struct();
        node.Metadata.Fields[ProxyNode.WorkloadNameKey] = Value.ForString(workload);
        node.Metadata.Fields[ProxyNode.NamespaceKey] = Value.ForString(ns);
        node.Metadata.Fields[ProxyNode.ModeKey] = Value.ForString(mode);
        var l = new Struct();
        foreach (var (k, v) in labels)
        {
            l.Fields[k] = Value.ForString(v);
        }

        node.Metadata.Fields[ProxyNode.LabelsKey] = Value.ForStruct(l);
        return ProxyNode.FromNode(node);
    }

    public static ProxyResources Generate(MeshSnapshot snapshot, ProxyNode node) => new TranslationCache().Get(snapshot, node);

    public static ImmutableSortedDictionary<string, string> Labels(params string[] pairs) =>
        pairs.Select(p => p.Split('=')).ToImmutableSortedDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
}
