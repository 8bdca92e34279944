using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Net;
using System.Runtime.CompilerServices;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.Telemetry;

/// <summary>The <c>destination_service*</c> labels of a call. Interned like <see cref="WorkloadPeer"/>.</summary>
internal sealed class ServiceLabels
{
    private const int MaxServices = 10_000;
    private static readonly ConcurrentDictionary<(string, string, string), ServiceLabels> Interned = new();

    private ServiceLabels(string host, string name, string ns)
    {
        Host = host;
        Name = name;
        Namespace = ns;
    }

    public static ServiceLabels Unknown { get; } = new(WorkloadPeer.UnknownValue, WorkloadPeer.UnknownValue, WorkloadPeer.UnknownValue);

    /// <summary>The one instance with these values (config pushes rebuild clusters; series keys must not change).</summary>
    public static ServiceLabels Intern(string host, string name, string ns)
    {
        if (Interned.TryGetValue((host, name, ns), out var s))
        {
            return s;
        }

        return Interned.Count >= MaxServices ? Unknown : Interned.GetOrAdd((host, name, ns), static k => new ServiceLabels(k.Item1, k.Item2, k.Item3));
    }

    public string Host { get; }

    public string Name { get; }

    public string Namespace { get; }
}

/// <summary>
/// Resolves peers and services from what the snapshot already knows, caching every answer so that the request
/// path only does lookups: endpoint metadata (<c>filter_metadata.istio</c> workload, namespace, service account,
/// and the <c>envoy.lb</c> labels) per endpoint; an address → workload index per snapshot (for TCP and for
/// clients without a sidecar); cluster metadata (<c>host</c>, <c>name</c>, <c>namespace</c>) per cluster; and the
/// authority → service name on the server side (the Kubernetes DNS search path).
/// </summary>
internal sealed class PeerResolver(LocalWorkload local)
{
    private const int MaxAuthorities = 4096;
    private const int MaxPrincipals = 4096;
    private const string ClusterDomain = "svc.cluster.local";

    private readonly ConditionalWeakTable<FrozenDictionary<string, string>, EndpointPeers> _byEndpointLabels = new();
    private readonly ConditionalWeakTable<FrozenDictionary<string, string>, ServiceLabels> _byClusterLabels = new();
    private readonly ConditionalWeakTable<RuntimeConfig, FrozenDictionary<IPAddress, WorkloadPeer>> _byAddress = new();
    private readonly ConcurrentDictionary<string, ServiceLabels> _inboundAuthorities = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, ServiceLabels> _outboundAuthorities = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, ServiceLabels> _passthroughAuthorities = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<(WorkloadPeer Peer, string Principal), WorkloadPeer> _withPrincipal = new();

    public LocalWorkload Local => local;

    /// <summary>
    /// The workload an endpoint belongs to, from its metadata; null when the metadata names none. With
    /// <paramref name="mutualTls"/> the principal is the endpoint's SPIFFE id (from its service account), which the
    /// upstream mTLS handshake verifies.
    /// </summary>
    public WorkloadPeer? FromEndpoint(UpstreamEndpoint endpoint, bool mutualTls = false)
    {
        var labels = endpoint.Labels;
        if (labels.Count == 0)
        {
            return null;
        }

        if (!_byEndpointLabels.TryGetValue(labels, out var peers))
        {
            peers = EndpointPeer(labels);
            _byEndpointLabels.AddOrUpdate(labels, peers);
        }

        return mutualTls ? peers.Secure : peers.Plain;
    }

    /// <summary>The workload at <paramref name="address"/> per the snapshot's endpoints, when exactly one workload has it.</summary>
    public WorkloadPeer? FromAddress(RuntimeConfig config, IPAddress? address)
    {
        if (address is null || IPAddress.IsLoopback(address))
        {
            return null; // loopback mode: every instance shares 127.0.0.1
        }

        var index = _byAddress.GetValue(config, BuildAddressIndex);
        return index.GetValueOrDefault(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
    }

    /// <summary><paramref name="peer"/> with the principal of an mTLS connection (namespace from the SPIFFE id when unknown).</summary>
    public WorkloadPeer WithPrincipal(WorkloadPeer peer, string? principal)
    {
        if (string.IsNullOrEmpty(principal) || string.Equals(peer.Principal, principal, StringComparison.Ordinal))
        {
            return peer;
        }

        if (_withPrincipal.TryGetValue((peer, principal), out var merged))
        {
            return merged;
        }

        merged = PeerTable.WithPrincipal(peer, principal);
        if (_withPrincipal.Count < MaxPrincipals)
        {
            _withPrincipal.TryAdd((peer, principal), merged);
        }

        return merged;
    }

    /// <summary>Client side: the service a cluster stands for (cluster metadata), else the authority's host.</summary>
    public ServiceLabels OutboundService(ClusterEntry? cluster, string authority)
    {
        if (cluster is not null)
        {
            var labels = cluster.Runtime.Settings.MetadataLabels;
            if (labels.TryGetValue("host", out _))
            {
                if (!_byClusterLabels.TryGetValue(labels, out var service))
                {
                    service = ClusterService(labels);
                    _byClusterLabels.AddOrUpdate(labels, service);
                }

                return service;
            }
        }

        // Istio: the Host header names the service; PassthroughCluster names itself.
        var passthrough = cluster?.Name is Routing.PassthroughRoute.ClusterName;
        return Cached(passthrough ? _passthroughAuthorities : _outboundAuthorities, authority, static (a, name) =>
        {
            var host = HostOf(a);
            return host.Length == 0 ? ServiceLabels.Unknown : ServiceLabels.Intern(host, name ?? host, WorkloadPeer.UnknownValue);
        }, passthrough ? Routing.PassthroughRoute.ClusterName : null);
    }

    /// <summary>Client side, TCP: the cluster's service, else <c>PassthroughCluster</c> / unknown (there is no Host header).</summary>
    public ServiceLabels TcpOutboundService(ClusterEntry? cluster, string? clusterName)
    {
        if (cluster is not null && cluster.Runtime.Settings.MetadataLabels.ContainsKey("host"))
        {
            return OutboundService(cluster, string.Empty);
        }

        return clusterName == Routing.PassthroughRoute.ClusterName
            ? ServiceLabels.Intern(WorkloadPeer.UnknownValue, Routing.PassthroughRoute.ClusterName, WorkloadPeer.UnknownValue)
            : ServiceLabels.Unknown;
    }

    /// <summary>
    /// Server side: the service from the authority the client used, completed as Kubernetes DNS would from this
    /// namespace (<c>reviews:9080</c> → <c>reviews.default.svc.cluster.local</c>); namespace is the local one, as Istio reports it.
    /// </summary>
    public ServiceLabels InboundService(string authority) =>
        Cached(_inboundAuthorities, authority, static (a, ns) =>
        {
            var host = HostOf(a);
            if (host.Length == 0)
            {
                return ServiceLabels.Unknown;
            }

            if (!IPAddress.TryParse(host, out _))
            {
                var dots = host.Count(c => c == '.');
                host = dots switch
                {
                    0 => $"{host}.{ns}.{ClusterDomain}",
                    1 => $"{host}.{ClusterDomain}",
                    2 when host.EndsWith(".svc", StringComparison.OrdinalIgnoreCase) => host + ".cluster.local",
                    _ => host,
                };
            }

            var dot = host.IndexOf('.', StringComparison.Ordinal);
            return ServiceLabels.Intern(host, dot > 0 && !IPAddress.TryParse(host, out _) ? host[..dot] : host, ns!);
        }, local.Namespace);

    private static ServiceLabels Cached(ConcurrentDictionary<string, ServiceLabels> cache, string authority, Func<string, string?, ServiceLabels> create, string? arg)
    {
        if (cache.TryGetValue(authority, out var s))
        {
            return s;
        }

        s = create(authority, arg);
        if (cache.Count < MaxAuthorities)
        {
            cache.TryAdd(authority, s);
        }

        return s;
    }

    private static string HostOf(string authority)
    {
        var (host, _) = Routing.PathRewrites.SplitAuthority(authority);
        return host.Trim('[', ']').ToLowerInvariant();
    }

    private static ServiceLabels ClusterService(FrozenDictionary<string, string> labels)
    {
        var host = labels["host"];
        var name = labels.TryGetValue("name", out var n) && n.Length > 0 ? n : (host.Contains('.', StringComparison.Ordinal) ? host[..host.IndexOf('.', StringComparison.Ordinal)] : host);
        var ns = labels.TryGetValue("namespace", out var s) && s.Length > 0 ? s : WorkloadPeer.UnknownValue;
        return ServiceLabels.Intern(host, name, ns);
    }

    /// <summary>
    /// Skein's endpoint metadata has <c>workload</c>, <c>namespace</c>, <c>service_account</c> and the instance labels;
    /// Istio's packs <c>workload</c> as <c>name;namespace;canonical-service;canonical-revision;cluster</c>. Both are read.
    /// </summary>
    private EndpointPeers EndpointPeer(FrozenDictionary<string, string> labels)
    {
        labels.TryGetValue("workload", out var workload);
        labels.TryGetValue("namespace", out var ns);
        WorkloadPeer plain;
        if (workload is not null && workload.Contains(';', StringComparison.Ordinal) && workload.Split(';') is { Length: >= 5 } p)
        {
            plain = PeerTable.Intern(p[0], p[1], Get(labels, "app"), Get(labels, "version"), p[2], p[3], p[4], null);
            ns = p[1];
        }
        else if (string.IsNullOrEmpty(workload))
        {
            return new EndpointPeers(WorkloadPeer.Unknown, WorkloadPeer.Unknown);
        }
        else
        {
            plain = PeerTable.FromLabels(workload, ns, labels, Get(labels, "cluster"), null);
        }

        var principal = labels.TryGetValue("service_account", out var sa) && sa.Length > 0 && !string.IsNullOrEmpty(ns)
            ? $"spiffe://{local.TrustDomain}/ns/{ns}/sa/{sa}"
            : null;
        return new EndpointPeers(plain, principal is null ? plain : PeerTable.WithPrincipal(plain, principal));
    }

    private static string? Get(FrozenDictionary<string, string> labels, string key) => labels.TryGetValue(key, out var v) ? v : null;

    private FrozenDictionary<IPAddress, WorkloadPeer> BuildAddressIndex(RuntimeConfig config)
    {
        var found = new Dictionary<IPAddress, WorkloadPeer?>();
        foreach (var (_, cluster) in config.Clusters)
        {
            foreach (var e in cluster.Endpoints.All)
            {
                if (!IPAddress.TryParse(e.Host, out var ip) || IPAddress.IsLoopback(ip))
                {
                    continue;
                }

                var peer = FromEndpoint(e);
                if (peer is null || peer.IsUnknown)
                {
                    continue;
                }

                // Two workloads behind one address (a node port, a shared host): ambiguous, so neither.
                found[ip] = found.TryGetValue(ip, out var seen) && !ReferenceEquals(seen, peer) ? null : peer;
            }
        }

        var index = new Dictionary<IPAddress, WorkloadPeer>();
        foreach (var (ip, peer) in found)
        {
            if (peer is not null)
            {
                index[ip] = peer;
            }
        }

        return index.ToFrozenDictionary();
    }
}

/// <summary>An endpoint's workload without and with its mTLS principal.</summary>
internal sealed record EndpointPeers(WorkloadPeer Plain, WorkloadPeer Secure);
