using Skein.Api.Validation;

namespace Skein.Api.Model;

/// <summary>Istio DestinationRule: policies for traffic to a service after routing (load balancing, pools, TLS, subsets).</summary>
public sealed record DestinationRule : Resource<DestinationRuleSpec>;

/// <summary>Traffic policies and subsets for one host.</summary>
public sealed record DestinationRuleSpec : IValidatable
{
    /// <summary>The service the rule applies to (Kubernetes Service or ServiceEntry host); short names resolve in the rule's namespace.</summary>
    [Required, Format(ValueFormat.Host)]
    public string? Host { get; init; }

    /// <summary>Policies for all traffic to the host.</summary>
    public TrafficPolicy? TrafficPolicy { get; init; }

    /// <summary>Named groups of endpoints (versions) that routes can target; each may override the traffic policy.</summary>
    public IReadOnlyList<Subset>? Subsets { get; init; }

    /// <summary>Namespaces that can see this rule: ".", "*" (the default), "~" (none) or names.</summary>
    public IReadOnlyList<string>? ExportTo { get; init; }

    /// <summary>Only apply the rule to these workloads (in the rule's namespace); all workloads when omitted.</summary>
    public WorkloadSelector? WorkloadSelector { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < (Subsets?.Count ?? 0); i++)
        {
            var name = Subsets![i].Name;
            if (name is null)
            {
                continue;
            }

            var path = ModelRules.Item("subsets", i) + ".name";
            if (!ModelRules.IsDnsLabel(name))
            {
                context.Error(path, $"subset name \"{name}\" is not a valid DNS label (lower case letters, digits and '-')");
            }

            if (!names.Add(name))
            {
                context.Error(path, $"duplicate subset name \"{name}\"", DiagnosticCodes.DuplicateSubset);
            }
        }

        ModelRules.ExportTo(context, ExportTo, allowNone: true);
    }
}

/// <summary>A named group of the host's endpoints, selected by labels.</summary>
public sealed record Subset
{
    /// <summary>The subset's name, used by route destinations.</summary>
    [Required]
    public string? Name { get; init; }

    /// <summary>Labels an endpoint must carry to be in the subset.</summary>
    [Format(ValueFormat.Labels)]
    public IReadOnlyDictionary<string, string>? Labels { get; init; }

    /// <summary>Overrides the rule's traffic policy for this subset.</summary>
    public TrafficPolicy? TrafficPolicy { get; init; }
}

/// <summary>Load balancing, connection pool, outlier detection and TLS settings for a destination.</summary>
public sealed record TrafficPolicy : IValidatable
{
    /// <summary>How endpoints are chosen.</summary>
    public LoadBalancerSettings? LoadBalancer { get; init; }

    /// <summary>Limits on connections and requests to each endpoint (circuit breaking).</summary>
    public ConnectionPoolSettings? ConnectionPool { get; init; }

    /// <summary>Ejection of endpoints that keep failing.</summary>
    public OutlierDetection? OutlierDetection { get; init; }

    /// <summary>TLS for connections to the destination.</summary>
    public ClientTlsSettings? Tls { get; init; }

    /// <summary>Per-port policies; a port's settings replace (not merge with) the ones above.</summary>
    public IReadOnlyList<PortTrafficPolicy>? PortLevelSettings { get; init; }

    /// <summary>Tunnel TCP connections to the host over HTTP CONNECT or POST.</summary>
    public TunnelSettings? Tunnel { get; init; }

    /// <summary>Send a PROXY protocol header to the destination.</summary>
    public ProxyProtocol? ProxyProtocol { get; init; }

    /// <summary>Limits concurrent retries relative to active requests.</summary>
    public RetryBudget? RetryBudget { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (LoadBalancer is null && ConnectionPool is null && OutlierDetection is null && Tls is null &&
            PortLevelSettings is null && Tunnel is null && ProxyProtocol is null && RetryBudget is null)
        {
            context.Error("", "a traffic policy must set at least one field");
        }

        if (Tunnel is not null && ProxyProtocol is not null)
        {
            context.Error("proxyProtocol", "cannot be combined with tunnel");
        }

        var ports = new HashSet<int>();
        for (var i = 0; i < (PortLevelSettings?.Count ?? 0); i++)
        {
            if (PortLevelSettings![i].Port?.Number is { } number && !ports.Add(number))
            {
                context.Error(ModelRules.Item("portLevelSettings", i) + ".port.number", $"duplicate port {number}");
            }
        }
    }
}

/// <summary>A traffic policy for one port of the destination.</summary>
public sealed record PortTrafficPolicy : IValidatable
{
    /// <summary>The port the policy applies to.</summary>
    public PortSelector? Port { get; init; }

    /// <summary>How endpoints are chosen.</summary>
    public LoadBalancerSettings? LoadBalancer { get; init; }

    /// <summary>Limits on connections and requests to each endpoint.</summary>
    public ConnectionPoolSettings? ConnectionPool { get; init; }

    /// <summary>Ejection of endpoints that keep failing.</summary>
    public OutlierDetection? OutlierDetection { get; init; }

    /// <summary>TLS for connections to this port.</summary>
    public ClientTlsSettings? Tls { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Port?.Number is null)
        {
            context.Error("port", "a port-level policy must name a port number");
        }

        if (LoadBalancer is null && ConnectionPool is null && OutlierDetection is null && Tls is null)
        {
            context.Error("", "a port-level policy must set at least one of loadBalancer, connectionPool, outlierDetection or tls");
        }
    }
}

/// <summary>Tunnel TCP connections over HTTP CONNECT or POST.</summary>
public sealed record TunnelSettings : IValidatable
{
    /// <summary>CONNECT (the default) or POST.</summary>
    public string? Protocol { get; init; }

    /// <summary>The host the connection is tunneled to: an FQDN or IP address.</summary>
    [Required]
    public string? TargetHost { get; init; }

    /// <summary>The port the connection is tunneled to.</summary>
    [Required, Range(1, 65535)]
    public int? TargetPort { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Protocol is not null and not ("CONNECT" or "POST"))
        {
            context.Error("protocol", "must be CONNECT or POST");
        }

        if (TargetHost is not null && !ModelRules.IsFqdn(TargetHost) && !ModelRules.IsIpAddress(TargetHost))
        {
            context.Error("targetHost", $"\"{TargetHost}\" is not a fully qualified host name or IP address");
        }
    }
}

/// <summary>PROXY protocol settings for upstream connections.</summary>
public sealed record ProxyProtocol
{
    /// <summary>The PROXY protocol version; V1 by default.</summary>
    public ProxyProtocolVersion? Version { get; init; }
}

/// <summary>PROXY protocol versions.</summary>
public enum ProxyProtocolVersion
{
    /// <summary>Version 1, human readable.</summary>
    V1,

    /// <summary>Version 2, binary.</summary>
    V2,
}

/// <summary>A limit on concurrent retries as a share of active requests.</summary>
public sealed record RetryBudget
{
    /// <summary>Concurrent retries allowed, as a percentage of active and pending requests (20 by default).</summary>
    [Range(0, 100)]
    public double? Percent { get; init; }

    /// <summary>Retries always allowed regardless of the percentage (3 by default).</summary>
    [Range(0, int.MaxValue)]
    public int? MinRetryConcurrency { get; init; }

    /// <summary>Window of recent requests the budget is computed over; 0 (the default) counts only active requests.</summary>
    public Duration? BudgetInterval { get; init; }
}

/// <summary>How endpoints are chosen: a simple algorithm or consistent hashing, plus locality and warmup settings.</summary>
[OneOf(nameof(Simple), nameof(ConsistentHash))]
public sealed record LoadBalancerSettings : IValidatable
{
    /// <summary>A load balancing algorithm that needs no tuning.</summary>
    public SimpleLb? Simple { get; init; }

    /// <summary>Consistent hashing for soft session affinity.</summary>
    public ConsistentHashLb? ConsistentHash { get; init; }

    /// <summary>Locality-aware load balancing; replaces the mesh-wide setting.</summary>
    public LocalityLoadBalancerSetting? LocalityLbSetting { get; init; }

    /// <summary>Deprecated: use warmup.duration. Ramp up traffic to new endpoints over this time.</summary>
    public Duration? WarmupDurationSecs { get; init; }

    /// <summary>Ramp up traffic to new endpoints (ROUND_ROBIN and LEAST_REQUEST only).</summary>
    public WarmupConfiguration? Warmup { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        ModelRules.AtLeastOneMillisecond(context, "warmupDurationSecs", WarmupDurationSecs);
        ModelRules.Deprecated(context, "warmupDurationSecs", WarmupDurationSecs is not null, "warmup.duration");
        if (WarmupDurationSecs is not null && Warmup is not null)
        {
            context.Error("warmupDurationSecs", "cannot be combined with warmup");
        }

        if ((WarmupDurationSecs is not null || Warmup is not null) &&
            (ConsistentHash is not null || Simple is SimpleLb.Random or SimpleLb.Passthrough))
        {
            context.Warning(Warmup is not null ? "warmup" : "warmupDurationSecs", "warmup only applies to ROUND_ROBIN and LEAST_REQUEST load balancing");
        }

        ModelRules.Deprecated(context, "simple", Simple == SimpleLb.LeastConn, "LEAST_REQUEST");
    }
}

/// <summary>Load balancing algorithms that need no tuning.</summary>
public enum SimpleLb
{
    /// <summary>Not set: the proxy's default (LEAST_REQUEST).</summary>
    Unspecified,

    /// <summary>Deprecated alias of LEAST_REQUEST.</summary>
    LeastConn,

    /// <summary>A random healthy endpoint.</summary>
    Random,

    /// <summary>Forward to the original destination address without load balancing.</summary>
    Passthrough,

    /// <summary>Each endpoint in turn.</summary>
    RoundRobin,

    /// <summary>The endpoint with fewer outstanding requests out of two random picks.</summary>
    LeastRequest,
}

/// <summary>Consistent hashing on a header, cookie, source IP or query parameter.</summary>
[OneOf(nameof(HttpHeaderName), nameof(HttpCookie), nameof(UseSourceIp), nameof(HttpQueryParameterName), Required = true)]
[OneOf(nameof(RingHash), nameof(Maglev))]
public sealed record ConsistentHashLb : IValidatable
{
    /// <summary>Hash on this request header.</summary>
    public string? HttpHeaderName { get; init; }

    /// <summary>Hash on this cookie, generating it when absent.</summary>
    public HttpCookie? HttpCookie { get; init; }

    /// <summary>Hash on the source IP address (TCP and HTTP).</summary>
    public bool? UseSourceIp { get; init; }

    /// <summary>Hash on this query parameter.</summary>
    public string? HttpQueryParameterName { get; init; }

    /// <summary>Use the ring hash algorithm (the default).</summary>
    public RingHash? RingHash { get; init; }

    /// <summary>Use the Maglev algorithm.</summary>
    public Maglev? Maglev { get; init; }

    /// <summary>Deprecated: use ringHash.minimumRingSize.</summary>
    [Range(0, long.MaxValue)]
    public long? MinimumRingSize { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        ModelRules.Deprecated(context, "minimumRingSize", MinimumRingSize is not null, "ringHash.minimumRingSize");
        if (MinimumRingSize is not null && (RingHash is not null || Maglev is not null))
        {
            context.Error("minimumRingSize", "cannot be combined with ringHash or maglev");
        }

        if (HttpHeaderName is { Length: 0 })
        {
            context.Error("httpHeaderName", "must not be empty");
        }

        if (HttpQueryParameterName is { Length: 0 })
        {
            context.Error("httpQueryParameterName", "must not be empty");
        }
    }
}

/// <summary>A cookie used as the hash key; generated with the TTL when the request has none.</summary>
public sealed record HttpCookie
{
    /// <summary>The cookie's name.</summary>
    [Required]
    public string? Name { get; init; }

    /// <summary>The cookie's path.</summary>
    public string? Path { get; init; }

    /// <summary>The generated cookie's lifetime; 0s makes a session cookie.</summary>
    public Duration? Ttl { get; init; }

    /// <summary>Extra attributes for the generated cookie (e.g. SameSite).</summary>
    public IReadOnlyList<HttpCookieAttribute>? Attributes { get; init; }
}

/// <summary>An attribute of a generated cookie.</summary>
public sealed record HttpCookieAttribute
{
    /// <summary>The attribute's name.</summary>
    [Required]
    public string? Name { get; init; }

    /// <summary>The attribute's value, if it has one.</summary>
    public string? Value { get; init; }
}

/// <summary>Ring hash settings.</summary>
public sealed record RingHash
{
    /// <summary>Minimum number of virtual nodes on the ring (1024 by default).</summary>
    [Range(0, long.MaxValue)]
    public long? MinimumRingSize { get; init; }
}

/// <summary>Maglev hash settings.</summary>
public sealed record Maglev : IValidatable
{
    /// <summary>The lookup table size: a prime below 5000011 (65537 by default).</summary>
    [Range(0, long.MaxValue)]
    public long? TableSize { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (TableSize is not { } size)
        {
            return;
        }

        if (size >= 5000011)
        {
            context.Error("tableSize", "must be less than 5000011");
        }
        else if (!IsPrime(size))
        {
            context.Error("tableSize", "must be a prime number");
        }
    }

    private static bool IsPrime(long n)
    {
        if (n < 2)
        {
            return false;
        }

        for (long d = 2; d * d <= n; d++)
        {
            if (n % d == 0)
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>How traffic to new endpoints is ramped up.</summary>
public sealed record WarmupConfiguration
{
    /// <summary>How long an endpoint stays in warmup.</summary>
    [Required]
    public Duration? Duration { get; init; }

    /// <summary>The share of its normal traffic a new endpoint starts with (10 by default).</summary>
    [Range(0, 100)]
    public double? MinimumPercent { get; init; }

    /// <summary>The shape of the ramp: 1 is linear, higher values ramp up later (1 by default).</summary>
    [Range(1, double.MaxValue)]
    public double? Aggression { get; init; }
}

/// <summary>Locality-aware load balancing: weighted distribution, failover, or failover by label priority.</summary>
public sealed record LocalityLoadBalancerSetting : IValidatable
{
    /// <summary>How traffic from a locality is spread over localities, by weight.</summary>
    public IReadOnlyList<LocalityDistribute>? Distribute { get; init; }

    /// <summary>Which region traffic fails over to when a region is unhealthy.</summary>
    public IReadOnlyList<LocalityFailover>? Failover { get; init; }

    /// <summary>Labels, in order, that endpoints are prioritized by ("key" or "key=value").</summary>
    public IReadOnlyList<string>? FailoverPriority { get; init; }

    /// <summary>Turns locality load balancing on or off for this destination.</summary>
    public bool? Enabled { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Distribute is { Count: > 0 } && Failover is { Count: > 0 })
        {
            context.Error("failover", "cannot be combined with distribute");
        }

        var from = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < (Distribute?.Count ?? 0); i++)
        {
            var entry = Distribute![i];
            var path = ModelRules.Item("distribute", i);
            if (entry.From is not null)
            {
                CheckLocality(context, path + ".from", entry.From);
                if (!from.Add(entry.From))
                {
                    context.Error(path + ".from", $"locality \"{entry.From}\" is already distributed by an earlier entry");
                }
            }

            if (entry.To is { } to)
            {
                foreach (var (locality, weight) in to)
                {
                    CheckLocality(context, ModelRules.Entry(path + ".to", locality), locality);
                    if (weight is < 1 or > 100)
                    {
                        context.Error(ModelRules.Entry(path + ".to", locality), "must be between 1 and 100");
                    }
                }

                var total = to.Values.Sum(w => (long)w);
                if (total != 100)
                {
                    context.Error(path + ".to", $"weights must sum to 100, got {total}");
                }
            }
        }

        for (var i = 0; i < (Failover?.Count ?? 0); i++)
        {
            var entry = Failover![i];
            var path = ModelRules.Item("failover", i);
            if (entry.From is not null && entry.From == entry.To)
            {
                context.Error(path, "from and to must be different regions");
            }

            foreach (var (field, region) in new[] { ("from", entry.From), ("to", entry.To) })
            {
                if (region is not null && (region.Contains('/') || region.Contains('*')))
                {
                    context.Error($"{path}.{field}", "failover names a region only, without '/' or '*'");
                }
            }
        }
    }

    private static void CheckLocality(ValidationContext context, string path, string locality)
    {
        var segments = locality.Split('/');
        if (segments.Length > 3)
        {
            context.Error(path, $"locality \"{locality}\" has more than region/zone/subzone");
            return;
        }

        for (var i = 0; i < segments.Length; i++)
        {
            if (segments[i].Length == 0 || (segments[i].Contains('*') && (segments[i] != "*" || i != segments.Length - 1)))
            {
                context.Error(path, $"invalid locality \"{locality}\": '*' may only be the whole last segment");
                return;
            }
        }
    }
}

/// <summary>Spreads traffic originating in one locality over other localities.</summary>
public sealed record LocalityDistribute
{
    /// <summary>The originating locality, "region/zone/subzone"; a trailing "*" matches all below.</summary>
    public string? From { get; init; }

    /// <summary>Weights (1-100, summing to 100) by destination locality.</summary>
    public IReadOnlyDictionary<string, int>? To { get; init; }
}

/// <summary>Where traffic from a region goes when its endpoints are unhealthy.</summary>
public sealed record LocalityFailover
{
    /// <summary>The originating region.</summary>
    public string? From { get; init; }

    /// <summary>The region to fail over to.</summary>
    public string? To { get; init; }
}

/// <summary>Connection and request limits per endpoint (circuit breaking).</summary>
public sealed record ConnectionPoolSettings : IValidatable
{
    /// <summary>Settings for all connections.</summary>
    public TcpSettings? Tcp { get; init; }

    /// <summary>Settings for HTTP/1.1, HTTP/2 and gRPC.</summary>
    public HttpSettings? Http { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Tcp is null && Http is null)
        {
            context.Error("", "a connection pool must set tcp, http or both");
        }
    }
}

/// <summary>Connection settings shared by TCP and HTTP.</summary>
public sealed record TcpSettings : IValidatable
{
    /// <summary>Maximum HTTP/1 or TCP connections to an endpoint (2^32-1 by default).</summary>
    [Range(0, int.MaxValue)]
    public int? MaxConnections { get; init; }

    /// <summary>TCP connect timeout, at least 1ms (10s by default).</summary>
    public Duration? ConnectTimeout { get; init; }

    /// <summary>Enables TCP keepalive on the socket.</summary>
    public TcpKeepalive? TcpKeepalive { get; init; }

    /// <summary>Close connections this long after they were opened; no limit by default.</summary>
    public Duration? MaxConnectionDuration { get; init; }

    /// <summary>Close connections idle this long (1h by default; 0s disables).</summary>
    public Duration? IdleTimeout { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        ModelRules.AtLeastOneMillisecond(context, "connectTimeout", ConnectTimeout);
        ModelRules.AtLeastOneMillisecond(context, "maxConnectionDuration", MaxConnectionDuration);
    }
}

/// <summary>TCP keepalive settings; unset values use the operating system's.</summary>
public sealed record TcpKeepalive : IValidatable
{
    /// <summary>Unanswered probes before the connection is considered dead.</summary>
    [Range(0, int.MaxValue)]
    public int? Probes { get; init; }

    /// <summary>Idle time before probes start.</summary>
    public Duration? Time { get; init; }

    /// <summary>Time between probes.</summary>
    public Duration? Interval { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        ModelRules.AtLeastOneMillisecond(context, "time", Time);
        ModelRules.AtLeastOneMillisecond(context, "interval", Interval);
    }
}

/// <summary>HTTP connection pool settings.</summary>
public sealed record HttpSettings : IValidatable
{
    /// <summary>Maximum requests queued while waiting for a connection (2^32-1 by default).</summary>
    [Range(0, int.MaxValue)]
    public int? Http1MaxPendingRequests { get; init; }

    /// <summary>Maximum active requests to the destination (2^32-1 by default).</summary>
    [Range(0, int.MaxValue)]
    public int? Http2MaxRequests { get; init; }

    /// <summary>Maximum requests per connection; 1 disables keepalive, 0 (the default) means no limit.</summary>
    [Range(0, int.MaxValue)]
    public int? MaxRequestsPerConnection { get; init; }

    /// <summary>Maximum outstanding retries to all endpoints (2^32-1 by default).</summary>
    [Range(0, int.MaxValue)]
    public int? MaxRetries { get; init; }

    /// <summary>Close pool connections with no active requests for this long (1h by default).</summary>
    public Duration? IdleTimeout { get; init; }

    /// <summary>Whether HTTP/1.1 connections are upgraded to HTTP/2.</summary>
    public H2UpgradePolicy? H2UpgradePolicy { get; init; }

    /// <summary>Use the client's protocol (HTTP/1.1 or HTTP/2) towards the destination.</summary>
    public bool? UseClientProtocol { get; init; }

    /// <summary>Maximum concurrent streams per HTTP/2 connection (2^31-1 by default).</summary>
    [Range(0, int.MaxValue)]
    public int? MaxConcurrentStreams { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        ModelRules.AtLeastOneMillisecond(context, "idleTimeout", IdleTimeout);
        if (UseClientProtocol == true && H2UpgradePolicy == Model.H2UpgradePolicy.Upgrade)
        {
            context.Error("useClientProtocol", "cannot be true when h2UpgradePolicy is UPGRADE");
        }
    }
}

/// <summary>Whether HTTP/1.1 connections to the destination are upgraded to HTTP/2.</summary>
public enum H2UpgradePolicy
{
    /// <summary>The mesh-wide default.</summary>
    Default,

    /// <summary>Never upgrade.</summary>
    DoNotUpgrade,

    /// <summary>Always upgrade.</summary>
    Upgrade,
}

/// <summary>Ejects endpoints that keep failing from the load balancing pool for a while.</summary>
public sealed record OutlierDetection : IValidatable
{
    /// <summary>Deprecated: use consecutive5xxErrors or consecutiveGatewayErrors.</summary>
    [Range(0, int.MaxValue)]
    public int? ConsecutiveErrors { get; init; }

    /// <summary>Count local failures (connect errors, timeouts) apart from upstream status codes.</summary>
    public bool? SplitExternalLocalOriginErrors { get; init; }

    /// <summary>Local failures in a row before ejection (5 by default); needs splitExternalLocalOriginErrors.</summary>
    [Range(0, int.MaxValue)]
    public int? ConsecutiveLocalOriginFailures { get; init; }

    /// <summary>502, 503 or 504 responses (or TCP connect failures) in a row before ejection; 0 disables (the default).</summary>
    [Range(0, int.MaxValue)]
    public int? ConsecutiveGatewayErrors { get; init; }

    /// <summary>5xx responses (or TCP failures) in a row before ejection (5 by default; 0 disables).</summary>
    [Range(0, int.MaxValue)]
    public int? Consecutive5xxErrors { get; init; }

    /// <summary>Time between ejection sweeps, at least 1ms (10s by default).</summary>
    public Duration? Interval { get; init; }

    /// <summary>Minimum ejection time, multiplied by the number of ejections, at least 1ms (30s by default).</summary>
    public Duration? BaseEjectionTime { get; init; }

    /// <summary>Most endpoints that may be ejected, in percent (10 by default).</summary>
    [Range(0, 100)]
    public int? MaxEjectionPercent { get; init; }

    /// <summary>Outlier detection stops when fewer than this percentage of endpoints are healthy (0 by default).</summary>
    [Range(0, 100)]
    public int? MinHealthPercent { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        ModelRules.AtLeastOneMillisecond(context, "interval", Interval);
        ModelRules.AtLeastOneMillisecond(context, "baseEjectionTime", BaseEjectionTime);
        ModelRules.Deprecated(context, "consecutiveErrors", ConsecutiveErrors is not null, "consecutive5xxErrors or consecutiveGatewayErrors");
        if (ConsecutiveLocalOriginFailures is not null && SplitExternalLocalOriginErrors != true)
        {
            context.Warning("consecutiveLocalOriginFailures", "has no effect unless splitExternalLocalOriginErrors is true");
        }
    }
}

/// <summary>TLS settings for connections to the destination.</summary>
public sealed record ClientTlsSettings : IValidatable
{
    /// <summary>Whether and how connections are secured with TLS.</summary>
    public ClientTlsMode? Mode { get; init; }

    /// <summary>Path to the client certificate file; required for MUTUAL unless credentialName is set.</summary>
    public string? ClientCertificate { get; init; }

    /// <summary>Path to the client private key file; required for MUTUAL unless credentialName is set.</summary>
    public string? PrivateKey { get; init; }

    /// <summary>Path to CA certificates that verify the server; the system roots when omitted.</summary>
    public string? CaCertificates { get; init; }

    /// <summary>A secret holding the client certificate, key and CA certificates, instead of file paths.</summary>
    public string? CredentialName { get; init; }

    /// <summary>Names the server certificate's subject alternative name must match.</summary>
    public IReadOnlyList<string>? SubjectAltNames { get; init; }

    /// <summary>SNI to send; taken from the request's authority when omitted.</summary>
    public string? Sni { get; init; }

    /// <summary>Skip verifying the server certificate's CA signature and SAN.</summary>
    public bool? InsecureSkipVerify { get; init; }

    /// <summary>Path to a certificate revocation list for verifying the server.</summary>
    public string? CaCrl { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        var fileFields = new (string Name, string? Value)[]
        {
            ("clientCertificate", ClientCertificate), ("privateKey", PrivateKey), ("caCertificates", CaCertificates), ("caCrl", CaCrl),
        };

        if (Mode is ClientTlsMode.Simple or ClientTlsMode.Mutual && CredentialName is not null)
        {
            foreach (var (name, value) in fileFields)
            {
                if (value is not null)
                {
                    context.Error(name, "cannot be combined with credentialName");
                }
            }
        }
        else if (Mode == ClientTlsMode.Mutual)
        {
            if (ClientCertificate is null)
            {
                context.Error("clientCertificate", "is required when mode is MUTUAL (or set credentialName)");
            }

            if (PrivateKey is null)
            {
                context.Error("privateKey", "is required when mode is MUTUAL (or set credentialName)");
            }
        }

        if (Mode == ClientTlsMode.IstioMutual)
        {
            foreach (var (name, value) in fileFields.Append(("credentialName", CredentialName)))
            {
                if (value is not null)
                {
                    context.Warning(name, "is ignored when mode is ISTIO_MUTUAL (the mesh's certificates are used)");
                }
            }
        }

        if (Mode == ClientTlsMode.Disable && InsecureSkipVerify == true)
        {
            context.Warning("insecureSkipVerify", "has no effect when mode is DISABLE");
        }
    }
}

/// <summary>TLS modes for connections to a destination.</summary>
public enum ClientTlsMode
{
    /// <summary>Plain text.</summary>
    Disable,

    /// <summary>TLS, verifying the server.</summary>
    Simple,

    /// <summary>Mutual TLS with a client certificate you provide.</summary>
    Mutual,

    /// <summary>Mutual TLS with the mesh's own certificates.</summary>
    IstioMutual,
}
