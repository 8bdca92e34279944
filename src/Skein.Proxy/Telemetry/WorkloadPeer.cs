using System.Collections.Concurrent;
using System.Collections.Frozen;

namespace Skein.Proxy.Telemetry;

/// <summary>
/// One side of a call as Istio's metric labels describe it. Instances are interned by <see cref="PeerTable"/>:
/// equal peers are the same object, so series keys compare peers by reference and never copy label strings.
/// Missing values are <c>unknown</c> (canonical revision <c>latest</c>), as Istio reports them.
/// </summary>
internal sealed class WorkloadPeer
{
    public const string UnknownValue = "unknown";

    internal WorkloadPeer(string workload, string ns, string app, string version, string canonicalService, string canonicalRevision, string cluster, string principal)
    {
        Workload = workload;
        Namespace = ns;
        App = app;
        Version = version;
        CanonicalService = canonicalService;
        CanonicalRevision = canonicalRevision;
        Cluster = cluster;
        Principal = principal;
    }

    /// <summary>A peer nothing is known about.</summary>
    public static WorkloadPeer Unknown { get; } = new(UnknownValue, UnknownValue, UnknownValue, UnknownValue, UnknownValue, "latest", UnknownValue, UnknownValue);

    public string Workload { get; }

    public string Namespace { get; }

    public string App { get; }

    public string Version { get; }

    public string CanonicalService { get; }

    public string CanonicalRevision { get; }

    public string Cluster { get; }

    /// <summary>The SPIFFE id (<c>spiffe://td/ns/x/sa/y</c>) when known from mTLS, else <c>unknown</c>.</summary>
    public string Principal { get; }

    public bool IsUnknown => ReferenceEquals(this, Unknown);

    /// <summary>The key <see cref="PeerTable"/> interns by.</summary>
    internal string Key => string.Join('\u001f', Workload, Namespace, App, Version, CanonicalService, CanonicalRevision, Cluster, Principal);
}

/// <summary>
/// Interns <see cref="WorkloadPeer"/>s and builds them from labels the way Istio does. Bounded: past
/// <see cref="MaxPeers"/> distinct peers (peer metadata comes from the network) new ones report as unknown.
/// </summary>
internal static class PeerTable
{
    public const int MaxPeers = 10_000;

    public const string CanonicalNameLabel = "service.istio.io/canonical-name";
    public const string CanonicalRevisionLabel = "service.istio.io/canonical-revision";

    private static readonly ConcurrentDictionary<string, WorkloadPeer> Peers = new(StringComparer.Ordinal);

    /// <summary>Returns the interned peer with these values (empty or null values become <c>unknown</c>).</summary>
    public static WorkloadPeer Intern(
        string? workload, string? ns, string? app, string? version, string? canonicalService, string? canonicalRevision, string? cluster, string? principal)
    {
        var peer = new WorkloadPeer(
            Or(workload), Or(ns), Or(app), Or(version), Or(canonicalService), string.IsNullOrEmpty(canonicalRevision) ? "latest" : canonicalRevision, Or(cluster), Or(principal));
        if (peer.Key == WorkloadPeer.Unknown.Key)
        {
            return WorkloadPeer.Unknown;
        }

        if (Peers.TryGetValue(peer.Key, out var existing))
        {
            return existing;
        }

        return Peers.Count >= MaxPeers ? WorkloadPeer.Unknown : Peers.GetOrAdd(peer.Key, peer);
    }

    /// <summary>
    /// A peer from a workload's name, namespace and labels: app from <c>app</c> (else <c>app.kubernetes.io/name</c>),
    /// version from <c>version</c> (else <c>app.kubernetes.io/version</c>), canonical service and revision from
    /// Istio's labels with the same fallbacks and then the workload name / <c>latest</c>.
    /// </summary>
    public static WorkloadPeer FromLabels(string? workload, string? ns, IReadOnlyDictionary<string, string> labels, string? cluster, string? principal)
    {
        var app = Label(labels, "app") ?? Label(labels, "app.kubernetes.io/name");
        var version = Label(labels, "version") ?? Label(labels, "app.kubernetes.io/version");
        var canonical = Label(labels, CanonicalNameLabel) ?? app ?? workload;
        var revision = Label(labels, CanonicalRevisionLabel) ?? version;
        return Intern(workload, ns, app, version, canonical, revision, cluster, principal);
    }

    /// <summary>The same peer with another principal (mTLS identity known only per connection).</summary>
    public static WorkloadPeer WithPrincipal(WorkloadPeer peer, string? principal)
    {
        var p = string.IsNullOrEmpty(principal) ? WorkloadPeer.UnknownValue : principal;
        if (string.Equals(peer.Principal, p, StringComparison.Ordinal))
        {
            return peer;
        }

        var ns = peer.Namespace;
        if (ns == WorkloadPeer.UnknownValue && SpiffeNamespace(p) is { } fromId)
        {
            ns = fromId;
        }

        return Intern(peer.Workload, ns, peer.App, peer.Version, peer.CanonicalService, peer.CanonicalRevision, peer.Cluster, p);
    }

    /// <summary>The namespace in a SPIFFE id <c>spiffe://td/ns/NAMESPACE/sa/NAME</c>, or null.</summary>
    public static string? SpiffeNamespace(string? id)
    {
        if (id is null)
        {
            return null;
        }

        var start = id.IndexOf("/ns/", StringComparison.Ordinal);
        if (start < 0)
        {
            return null;
        }

        start += 4;
        var end = id.IndexOf('/', start);
        var ns = end < 0 ? id[start..] : id[start..end];
        return ns.Length == 0 ? null : ns;
    }

    private static string? Label(IReadOnlyDictionary<string, string> labels, string key) =>
        labels.TryGetValue(key, out var v) && v.Length > 0 ? v : null;

    private static string Or(string? value) => string.IsNullOrEmpty(value) ? WorkloadPeer.UnknownValue : value;

    internal static FrozenDictionary<string, string> NoLabels { get; } = FrozenDictionary<string, string>.Empty;
}
