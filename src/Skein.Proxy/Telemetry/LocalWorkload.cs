using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Skein.Xds.Envoy.Config.Core.V3;

namespace Skein.Proxy.Telemetry;

/// <summary>
/// Who this proxy serves, from its xDS node (Istio's node metadata keys: <c>NAMESPACE</c>, <c>WORKLOAD_NAME</c>,
/// <c>LABELS</c>, <c>SERVICE_ACCOUNT</c>, <c>CLUSTER_ID</c>, <c>NAME</c>; the namespace and pod name fall back to the
/// Istio node id <c>sidecar~ip~pod.ns~ns.svc.cluster.local</c>). Built once at start; also holds the metadata
/// exchange header value this proxy sends.
/// </summary>
internal sealed class LocalWorkload
{
    public const string DefaultTrustDomain = "cluster.local";

    private LocalWorkload(string nodeId, string ns, string? workload, string? instance, string? serviceAccount, string? cluster, string trustDomain, IReadOnlyDictionary<string, string> labels)
    {
        NodeId = nodeId;
        Namespace = ns;
        ServiceAccount = serviceAccount;
        TrustDomain = trustDomain;
        Instance = instance;
        Labels = labels;
        SpiffeId = serviceAccount is null ? null : $"spiffe://{trustDomain}/ns/{ns}/sa/{serviceAccount}";
        Peer = PeerTable.FromLabels(workload, ns, labels, cluster, null);
        PeerWithPrincipal = SpiffeId is null ? Peer : PeerTable.WithPrincipal(Peer, SpiffeId);
        ExchangeHeaderValue = Encode(instance, ns, workload, cluster, Peer);
    }

    /// <summary>The xDS node id (sent as <c>x-envoy-peer-metadata-id</c>).</summary>
    public string NodeId { get; }

    public string Namespace { get; }

    public string? ServiceAccount { get; }

    public string TrustDomain { get; }

    /// <summary>The pod / instance name, when known.</summary>
    public string? Instance { get; }

    public IReadOnlyDictionary<string, string> Labels { get; }

    /// <summary>This workload's SPIFFE id (<c>spiffe://td/ns/NS/sa/SA</c>) when its service account is known.</summary>
    public string? SpiffeId { get; }

    /// <summary>The labels of this workload, principal unknown (plaintext).</summary>
    public WorkloadPeer Peer { get; }

    /// <summary>The labels of this workload with its SPIFFE id as principal (mTLS).</summary>
    public WorkloadPeer PeerWithPrincipal { get; }

    /// <summary>Base64 of the deterministic protobuf <c>Struct</c> Istio's metadata exchange sends (<c>x-envoy-peer-metadata</c>).</summary>
    public string ExchangeHeaderValue { get; }

    public static LocalWorkload FromNode(Node? node)
    {
        node ??= new Node();
        var fields = node.Metadata?.Fields;
        string? Text(string key) => fields is not null && fields.TryGetValue(key, out var v) && v.KindCase == Value.KindOneofCase.StringValue && v.StringValue.Length > 0
            ? v.StringValue
            : null;

        var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (fields is not null && fields.TryGetValue("LABELS", out var l) && l.KindCase == Value.KindOneofCase.StructValue)
        {
            foreach (var (k, v) in l.StructValue.Fields)
            {
                if (v.KindCase == Value.KindOneofCase.StringValue)
                {
                    labels[k] = v.StringValue;
                }
            }
        }

        // sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local
        var parts = node.Id.Split('~');
        string? podFromId = null;
        string? nsFromId = null;
        if (parts.Length == 4)
        {
            var dot = parts[2].IndexOf('.', StringComparison.Ordinal);
            podFromId = dot > 0 ? parts[2][..dot] : parts[2];
            nsFromId = dot > 0 ? parts[2][(dot + 1)..] : null;
        }

        var ns = Text("NAMESPACE") ?? nsFromId ?? "default";
        return new LocalWorkload(
            node.Id,
            ns,
            Text("WORKLOAD_NAME"),
            Text("NAME") ?? Text("INSTANCE_ID") ?? podFromId,
            Text("SERVICE_ACCOUNT"),
            Text("CLUSTER_ID"),
            Text("TRUST_DOMAIN") ?? DefaultTrustDomain,
            labels);
    }

    /// <summary>A string node metadata value, or null.</summary>
    public static string? Metadata(Node? node, string key) =>
        node?.Metadata?.Fields is { } f && f.TryGetValue(key, out var v) && v.KindCase == Value.KindOneofCase.StringValue ? v.StringValue : null;

    /// <summary>A nested node metadata value (e.g. <c>PROXY_CONFIG</c> → <c>tracing</c> → <c>sampling</c>), or null.</summary>
    public static Value? MetadataPath(Node? node, params string[] path)
    {
        var fields = node?.Metadata?.Fields;
        Value? value = null;
        foreach (var key in path)
        {
            if (fields is null || !fields.TryGetValue(key, out value))
            {
                return null;
            }

            fields = value.KindCase == Value.KindOneofCase.StructValue ? value.StructValue.Fields : null;
        }

        return value;
    }

    private static string Encode(string? instance, string ns, string? workload, string? cluster, WorkloadPeer peer)
    {
        // Istio's FlatNode as a Struct, keys inserted in sorted order so that the bytes are deterministic.
        var labels = new Struct();
        AddIfKnown(labels, "app", peer.App);
        AddIfKnown(labels, PeerTable.CanonicalNameLabel, peer.CanonicalService);
        AddIfKnown(labels, PeerTable.CanonicalRevisionLabel, peer.CanonicalRevision);
        AddIfKnown(labels, "version", peer.Version);
        var s = new Struct();
        if (!string.IsNullOrEmpty(cluster))
        {
            s.Fields["CLUSTER_ID"] = Value.ForString(cluster);
        }

        s.Fields["LABELS"] = Value.ForStruct(labels);
        if (!string.IsNullOrEmpty(instance))
        {
            s.Fields["NAME"] = Value.ForString(instance);
        }

        s.Fields["NAMESPACE"] = Value.ForString(ns);
        if (!string.IsNullOrEmpty(workload))
        {
            s.Fields["WORKLOAD_NAME"] = Value.ForString(workload);
        }

        return Convert.ToBase64String(s.ToByteArray());
    }

    private static void AddIfKnown(Struct s, string key, string value)
    {
        if (value != WorkloadPeer.UnknownValue)
        {
            s.Fields[key] = Value.ForString(value);
        }
    }
}
