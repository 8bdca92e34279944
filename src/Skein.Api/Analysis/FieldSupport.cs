namespace Skein.Api.Analysis;

public enum SupportLevel
{
    /// <summary>Validated and enforced by the mesh.</summary>
    Yes,

    /// <summary>Validated; enforced in part (the note says which part).</summary>
    Partial,

    /// <summary>Accepted for compatibility but not enforced: `skein analyze` warns when it is set.</summary>
    No,

    /// <summary>Meaningless inside a mesh (cluster-level Kubernetes settings); accepted silently.</summary>
    NotApplicable,
}

/// <summary>How far Skein supports one field, its default, and a note for the README.</summary>
public sealed record FieldSupport(SupportLevel Level, string? Default = null, string? Note = null);

/// <summary>
/// The support matrix: one place that says which fields Skein enforces. `skein analyze` warns
/// (SK0110) when a field marked No is set; the README's reference tables are generated from it.
/// Paths are "Kind:spec.path" with "[]" for list items and "{}" for map values.
/// </summary>
public static class FieldSupportMatrix
{
    /// <summary>Fields not listed: validated, and enforced by the data plane as Istio does.</summary>
    public static FieldSupport Default { get; } = new(SupportLevel.Yes);

    private const string NoGateways = "Skein has sidecars only; rules for gateways are ignored";
    private const string NoJwt = "no RequestAuthentication (JWT) support yet";
    private const string NeedsMtls = "matches the peer's mTLS identity: callers without mTLS have none";
    private const string K8sOnly = "cluster-level Kubernetes setting";

    private static readonly Dictionary<string, FieldSupport> Entries = new(StringComparer.Ordinal)
    {
        ["VirtualService:spec.gateways"] = new(SupportLevel.Partial, "[mesh]", "only \"mesh\" (sidecars); " + NoGateways),
        ["VirtualService:spec.exportTo"] = new(SupportLevel.No, "[*]", "all rules are visible mesh-wide"),
        ["VirtualService:spec.http[].delegate"] = new(SupportLevel.No, null, "delegation is a gateway feature"),
        ["VirtualService:spec.http[].match[].gateways"] = new(SupportLevel.No, null, NoGateways),
        ["VirtualService:spec.http[].match[].statPrefix"] = new(SupportLevel.No),
        ["VirtualService:spec.tcp[].match[].gateways"] = new(SupportLevel.No, null, NoGateways),
        ["VirtualService:spec.tcp[].match[].destinationSubnets"] = new(SupportLevel.No),
        ["VirtualService:spec.tcp[].match[].sourceSubnet"] = new(SupportLevel.No),
        ["VirtualService:spec.tls"] = new(SupportLevel.No, null, "TLS (SNI) routes are not translated yet; TLS ports are proxied as opaque TCP by VIP"),
        ["VirtualService:spec.tls[].match[].gateways"] = new(SupportLevel.No, null, NoGateways),
        ["VirtualService:spec.tls[].match[].sourceNamespace"] = new(SupportLevel.No),
        ["VirtualService:spec.http[].retries.retryRemoteLocalities"] = new(SupportLevel.No),
        ["VirtualService:spec.http[].fault.delay.exponentialDelay"] = new(SupportLevel.No),
        ["VirtualService:spec.http[].fault.abort.http2Error"] = new(SupportLevel.No),
        ["VirtualService:spec.http[].timeout"] = new(SupportLevel.Yes, "disabled"),
        ["VirtualService:spec.http[].retries"] = new(SupportLevel.Yes, "2 attempts on connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"),
        ["VirtualService:spec.http[].route[].weight"] = new(SupportLevel.Yes, "100 for a single destination"),
        ["VirtualService:spec.http[].mirrorPercentage"] = new(SupportLevel.Yes, "100"),
        ["VirtualService:spec.http[].redirect.redirectCode"] = new(SupportLevel.Partial, "301", "301, 302, 303, 307 or 308; other codes are sent as 301"),
        ["VirtualService:spec.http[].corsPolicy.unmatchedPreflights"] = new(SupportLevel.No, null, "preflights from origins that are not allowed are always forwarded"),
        ["DestinationRule:spec.exportTo"] = new(SupportLevel.No, "[*]"),
        ["DestinationRule:spec.workloadSelector"] = new(SupportLevel.No),
        ["DestinationRule:spec.trafficPolicy.tunnel"] = new(SupportLevel.No),
        ["DestinationRule:spec.trafficPolicy.proxyProtocol"] = new(SupportLevel.No),
        ["DestinationRule:spec.trafficPolicy.loadBalancer.warmup"] = new(SupportLevel.No),
        ["DestinationRule:spec.trafficPolicy.loadBalancer.warmupDurationSecs"] = new(SupportLevel.No),
        ["DestinationRule:spec.trafficPolicy.loadBalancer.simple"] = new(SupportLevel.Yes, "LEAST_REQUEST"),
        ["DestinationRule:spec.trafficPolicy.loadBalancer.localityLbSetting"] = new(
            SupportLevel.Yes,
            "enabled",
            "as Istio: failover (by locality distance, failover regions or failoverPriority labels) only with outlierDetection set; distribute sets locality weights; the proxy's locality is its xDS node locality, else its WorkloadEntry's"),
        ["DestinationRule:spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes"] = new(SupportLevel.No),
        ["DestinationRule:spec.trafficPolicy.retryBudget.budgetInterval"] = new(SupportLevel.No),
        ["DestinationRule:spec.trafficPolicy.tls.credentialName"] = new(SupportLevel.No, null, "no Kubernetes secret access from sidecars"),
        ["DestinationRule:spec.trafficPolicy.tls.caCrl"] = new(SupportLevel.No),
        ["DestinationRule:spec.trafficPolicy.tls.mode"] = new(SupportLevel.Yes, "DISABLE; ISTIO_MUTUAL to meshed workloads when skein-control runs with --mtls"),
        ["DestinationRule:spec.trafficPolicy.connectionPool.tcp.connectTimeout"] = new(SupportLevel.Yes, "10s"),
        ["DestinationRule:spec.trafficPolicy.connectionPool.tcp.maxConnections"] = new(SupportLevel.Yes, "4294967295"),
        ["DestinationRule:spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests"] = new(SupportLevel.Yes, "4294967295"),
        ["DestinationRule:spec.trafficPolicy.connectionPool.http.http2MaxRequests"] = new(SupportLevel.Yes, "4294967295"),
        ["DestinationRule:spec.trafficPolicy.connectionPool.http.maxRetries"] = new(SupportLevel.Yes, "4294967295"),
        ["DestinationRule:spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection"] = new(
            SupportLevel.Partial, "0 (unlimited)", "enforced on HTTP/1.1 upstream connections; HTTP/2 connections are not recycled"),
        ["DestinationRule:spec.trafficPolicy.connectionPool.http.idleTimeout"] = new(SupportLevel.Yes, "1h"),
        ["DestinationRule:spec.trafficPolicy.retryBudget"] = new(SupportLevel.Yes, null, "budget of 20% of active and pending requests, at least minRetryConcurrency (3); overflowing retries are not made (UO)"),
        ["DestinationRule:spec.trafficPolicy.outlierDetection.consecutive5xxErrors"] = new(SupportLevel.Yes, "5"),
        ["DestinationRule:spec.trafficPolicy.outlierDetection.interval"] = new(SupportLevel.Yes, "10s"),
        ["DestinationRule:spec.trafficPolicy.outlierDetection.baseEjectionTime"] = new(SupportLevel.Yes, "30s"),
        ["DestinationRule:spec.trafficPolicy.outlierDetection.maxEjectionPercent"] = new(SupportLevel.Yes, "10"),
        ["DestinationRule:spec.trafficPolicy.outlierDetection.minHealthPercent"] = new(SupportLevel.Yes, "0"),
        ["DestinationRule:spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures"] = new(SupportLevel.Yes, "5", "counted only with splitExternalLocalOriginErrors"),
        ["ServiceEntry:spec.exportTo"] = new(SupportLevel.No, "[*]"),
        ["ServiceEntry:spec.subjectAltNames"] = new(SupportLevel.No),
        ["ServiceEntry:spec.endpoints[].network"] = new(SupportLevel.No, null, "single network only"),
        ["WorkloadEntry:spec.network"] = new(SupportLevel.No, null, "single network only"),
        ["AuthorizationPolicy:spec.provider"] = new(SupportLevel.No, null, "CUSTOM (external authorization) is out of scope"),
        ["AuthorizationPolicy:spec.targetRef"] = new(SupportLevel.No, null, "Gateway API targets are out of scope; use selector"),
        ["AuthorizationPolicy:spec.targetRefs"] = new(SupportLevel.No, null, "Gateway API targets are out of scope; use selector"),
        ["AuthorizationPolicy:spec.action"] = new(SupportLevel.Partial, "ALLOW", "ALLOW, DENY and AUDIT are enforced by the sidecar (DENY first, then ALLOW); CUSTOM is out of scope"),
        ["AuthorizationPolicy:spec.rules[].from[].source.principals"] = new(SupportLevel.Partial, null, NeedsMtls),
        ["AuthorizationPolicy:spec.rules[].from[].source.notPrincipals"] = new(SupportLevel.Partial, null, NeedsMtls),
        ["AuthorizationPolicy:spec.rules[].from[].source.namespaces"] = new(SupportLevel.Partial, null, NeedsMtls),
        ["AuthorizationPolicy:spec.rules[].from[].source.notNamespaces"] = new(SupportLevel.Partial, null, NeedsMtls),
        ["AuthorizationPolicy:spec.rules[].from[].source.serviceAccounts"] = new(SupportLevel.Partial, null, NeedsMtls),
        ["AuthorizationPolicy:spec.rules[].from[].source.notServiceAccounts"] = new(SupportLevel.Partial, null, NeedsMtls),
        ["AuthorizationPolicy:spec.rules[].from[].source.requestPrincipals"] = new(SupportLevel.No, null, NoJwt + ": no request has a request principal, so these values never match"),
        ["AuthorizationPolicy:spec.rules[].from[].source.notRequestPrincipals"] = new(SupportLevel.No, null, NoJwt + ": no request has a request principal, so these values always match"),
        ["AuthorizationPolicy:spec.rules[].to[].operation.paths"] = new(SupportLevel.Yes, null, "matched after path normalisation (escaped slashes refused with 400); {*} and {**} templates too"),
        ["PeerAuthentication:spec.mtls.mode"] = new(SupportLevel.Yes, "PERMISSIVE (UNSET inherits from the namespace, then the mesh)", "sidecars send mTLS to each other automatically; skein-control --mtls=false turns auto mTLS off"),
        ["Workload:spec.replicas"] = new(SupportLevel.Yes, "1"),
        ["Workload:spec.serviceAccount"] = new(SupportLevel.Yes, "default"),
        ["RateLimit:spec.burst"] = new(SupportLevel.Yes, "0", "the token bucket holds requestsPerUnit + burst"),
        ["RateLimit:spec.match[].sourceLabels"] = new(SupportLevel.No, null, "the limit is enforced by the destination, which does not know the caller's labels"),
        ["RateLimit:spec.match[].sourceNamespace"] = new(SupportLevel.No),
        ["RateLimit:spec.match[].gateways"] = new(SupportLevel.No, null, NoGateways),
        ["RateLimit:spec.match[].statPrefix"] = new(SupportLevel.No),
    };

    private static readonly string[] ServiceNotApplicable =
    [
        "clusterIPs", "type", "externalIPs", "externalName", "sessionAffinity", "sessionAffinityConfig", "loadBalancerIP",
        "loadBalancerSourceRanges", "loadBalancerClass", "externalTrafficPolicy", "internalTrafficPolicy", "healthCheckNodePort",
        "publishNotReadyAddresses", "ipFamilies", "ipFamilyPolicy", "allocateLoadBalancerNodePorts", "trafficDistribution", "ports[].nodePort",
    ];

    public static FieldSupport For(string kind, string normalizedPath)
    {
        if (kind == "DestinationRule")
        {
            // Subset and port-level policies are the same settings as the top-level one.
            normalizedPath = normalizedPath
                .Replace("spec.subsets[].trafficPolicy", "spec.trafficPolicy", StringComparison.Ordinal)
                .Replace("spec.trafficPolicy.portLevelSettings[].", "spec.trafficPolicy.", StringComparison.Ordinal);
        }

        if (Entries.TryGetValue($"{kind}:{normalizedPath}", out var support))
        {
            return support;
        }

        if (kind == "Service" && normalizedPath.StartsWith("spec.", StringComparison.Ordinal)
            && ServiceNotApplicable.Any(p => normalizedPath == "spec." + p || normalizedPath.StartsWith("spec." + p + ".", StringComparison.Ordinal)))
        {
            return new FieldSupport(SupportLevel.NotApplicable, null, K8sOnly);
        }

        // A field under one that is not enforced is not enforced either.
        var cut = normalizedPath.LastIndexOf('.');
        return cut > 0 && For(kind, normalizedPath[..cut]) is { Level: SupportLevel.No or SupportLevel.NotApplicable } parent
            ? parent with { Default = null }
            : Default;
    }
}
