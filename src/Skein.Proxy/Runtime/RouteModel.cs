using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Text.RegularExpressions;

namespace Skein.Proxy.Runtime;

/// <summary>A compiled <c>RouteConfiguration</c>: virtual hosts indexed the way Envoy selects them.</summary>
internal sealed class RouteTable
{
    public required string Name { get; init; }

    /// <summary>Exact domains (lower case, port included when the config wrote one).</summary>
    public required FrozenDictionary<string, VirtualHostRuntime> ExactDomains { get; init; }

    /// <summary>Suffix wildcards (<c>*.example.com</c> stored as <c>.example.com</c>), longest first.</summary>
    public required ImmutableArray<KeyValuePair<string, VirtualHostRuntime>> SuffixDomains { get; init; }

    /// <summary>Prefix wildcards (<c>example.*</c> stored as <c>example.</c>), longest first.</summary>
    public required ImmutableArray<KeyValuePair<string, VirtualHostRuntime>> PrefixDomains { get; init; }

    /// <summary>The virtual host for <c>*</c>, if any.</summary>
    public VirtualHostRuntime? DefaultHost { get; init; }

    public required HeaderMutations RequestHeaders { get; init; }

    public required HeaderMutations ResponseHeaders { get; init; }

    public required PerFilterConfig FilterConfigs { get; init; }

    public required ImmutableArray<VirtualHostRuntime> VirtualHosts { get; init; }
}

/// <summary>A compiled virtual host.</summary>
internal sealed class VirtualHostRuntime
{
    public required string Name { get; init; }

    public required ImmutableArray<string> Domains { get; init; }

    public required ImmutableArray<RouteRuntime> Routes { get; init; }

    public required HeaderMutations RequestHeaders { get; init; }

    public required HeaderMutations ResponseHeaders { get; init; }

    public required PerFilterConfig FilterConfigs { get; init; }

    public RetryPolicyRuntime? RetryPolicy { get; init; }

    /// <summary>The virtual host's CORS policy (a route's own policy replaces it).</summary>
    public CorsPolicyRuntime? Cors { get; init; }

    /// <summary>The route table this virtual host belongs to (set once while compiling).</summary>
    public RouteTable Table { get; internal set; } = null!;
}

/// <summary>A compiled route: match, action and per-route settings.</summary>
internal sealed class RouteRuntime
{
    public required string Name { get; init; }

    public required RouteMatchRuntime Match { get; init; }

    public required RouteAction Action { get; init; }

    public required HeaderMutations RequestHeaders { get; init; }

    public required HeaderMutations ResponseHeaders { get; init; }

    public required PerFilterConfig FilterConfigs { get; init; }

    /// <summary>The virtual host this route belongs to (set once while compiling).</summary>
    public VirtualHostRuntime VirtualHost { get; internal set; } = null!;
}

/// <summary>How the path of a route is matched.</summary>
internal enum PathMatchKind
{
    Prefix,
    Exact,
    Regex,
}

/// <summary>A compiled <c>RouteMatch</c>.</summary>
internal sealed record RouteMatchRuntime(
    PathMatchKind PathKind,
    string PathValue,
    Regex? PathRegex,
    bool CaseSensitive,
    ImmutableArray<HeaderMatch> Headers,
    ImmutableArray<QueryMatch> QueryParameters,
    bool GrpcOnly,
    FractionRuntime? RuntimeFraction);

/// <summary>A fraction of requests (<c>FractionalPercent</c>) as numerator over denominator.</summary>
internal sealed record FractionRuntime(uint Numerator, uint Denominator)
{
    /// <summary>Rolls the dice with <paramref name="random"/>: true for the configured fraction of calls.</summary>
    public bool Roll(IRandomSource random) =>
        Numerator >= Denominator || (Numerator > 0 && (uint)random.Next((int)Denominator) < Numerator);
}

/// <summary>The action of a route.</summary>
internal abstract record RouteAction;

/// <summary>A redirect (<c>RedirectAction</c>).</summary>
internal sealed record RedirectRouteAction(
    string? Scheme,
    string? Host,
    int Port,
    string? PathRedirect,
    string? PrefixRewrite,
    RegexRewrite? RegexRewrite,
    int StatusCode,
    bool StripQuery) : RouteAction;

/// <summary>A direct response (<c>DirectResponseAction</c>).</summary>
internal sealed record DirectResponseRouteAction(int StatusCode, ReadOnlyMemory<byte> Body) : RouteAction;

/// <summary>A regex substitution applied to the path.</summary>
internal sealed record RegexRewrite(Regex Pattern, string Substitution);

/// <summary>Forwarding to a cluster (<c>RouteAction</c>): single, by header, or weighted.</summary>
internal sealed record ForwardRouteAction : RouteAction
{
    /// <summary>The single target cluster (when neither <see cref="ClusterHeader"/> nor <see cref="WeightedClusters"/>).</summary>
    public WeightedClusterEntry? Cluster { get; init; }

    /// <summary>Name of the request header that names the cluster (<c>cluster_header</c>).</summary>
    public string? ClusterHeader { get; init; }

    public ImmutableArray<WeightedClusterEntry> WeightedClusters { get; init; } = [];

    public int TotalWeight { get; init; }

    public int ClusterNotFoundStatus { get; init; } = 503;

    public string? PrefixRewrite { get; init; }

    public RegexRewrite? RegexRewrite { get; init; }

    public string? HostRewriteLiteral { get; init; }

    public bool AutoHostRewrite { get; init; }

    /// <summary>Overall timeout; null when disabled (0s in config). Envoy's default is 15s.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Idle timeout of the stream; null to use the connection manager's.</summary>
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>Upper bound for a <c>grpc-timeout</c> header; null when gRPC timeouts are not capped.</summary>
    public TimeSpan? GrpcTimeoutHeaderMax { get; init; }

    public TimeSpan? MaxStreamDuration { get; init; }

    public RetryPolicyRuntime? RetryPolicy { get; init; }

    public ImmutableArray<MirrorPolicyRuntime> MirrorPolicies { get; init; } = [];

    public ImmutableArray<HashPolicyRuntime> HashPolicies { get; init; } = [];

    /// <summary>The route's CORS policy, replacing the virtual host's.</summary>
    public CorsPolicyRuntime? Cors { get; init; }

    /// <summary>Upgrade types (lower case) enabled or disabled on the route, overriding the connection manager.</summary>
    public FrozenDictionary<string, bool> Upgrades { get; init; } = FrozenDictionary<string, bool>.Empty;
}

/// <summary>One target cluster of a route, with its weight and the mutations that apply when picked.</summary>
internal sealed record WeightedClusterEntry(
    string Name,
    int Weight,
    ClusterEntry? Target,
    HeaderMutations RequestHeaders,
    HeaderMutations ResponseHeaders,
    PerFilterConfig FilterConfigs);

/// <summary>A compiled <c>RetryPolicy</c>, carried out by the router (Resilience/RetryState).</summary>
internal sealed record RetryPolicyRuntime(
    ImmutableArray<string> RetryOn,
    int NumRetries,
    TimeSpan? PerTryTimeout,
    ImmutableArray<int> RetriableStatusCodes,
    TimeSpan BaseInterval,
    TimeSpan MaxInterval,
    ImmutableArray<HeaderMatch> RetriableHeaders,
    ImmutableArray<HeaderMatch> RetriableRequestHeaders,
    long HostSelectionRetryMaxAttempts)
{
    /// <summary>The <see cref="RetryOn"/> conditions Skein acts on, parsed once.</summary>
    public RetryConditions Conditions { get; init; }

    /// <summary>True when <c>retry_host_predicate</c> names previous_hosts: retries avoid hosts already tried.</summary>
    public bool AvoidPreviousHosts { get; init; }
}

/// <summary>The <c>retry_on</c> conditions (Envoy's <c>x-envoy-retry-on</c> and <c>x-envoy-retry-grpc-on</c> values).</summary>
[Flags]
internal enum RetryConditions
{
    None = 0,
    ServerError = 1 << 0, // 5xx
    GatewayError = 1 << 1, // gateway-error
    Reset = 1 << 2, // reset
    ConnectFailure = 1 << 3, // connect-failure
    Retriable4xx = 1 << 4, // retriable-4xx
    RefusedStream = 1 << 5, // refused-stream
    RetriableStatusCodes = 1 << 6, // retriable-status-codes
    RetriableHeaders = 1 << 7, // retriable-headers
    EnvoyRateLimited = 1 << 8, // envoy-ratelimited
    ResetBeforeRequest = 1 << 9, // reset-before-request
    GrpcCancelled = 1 << 10, // cancelled
    GrpcDeadlineExceeded = 1 << 11, // deadline-exceeded
    GrpcInternal = 1 << 12, // internal
    GrpcResourceExhausted = 1 << 13, // resource-exhausted
    GrpcUnavailable = 1 << 14, // unavailable
}

/// <summary>A compiled CORS policy (route or virtual host <c>cors</c>), answered and applied by the router.</summary>
internal sealed record CorsPolicyRuntime(
    ImmutableArray<StringMatch> AllowOrigins,
    string AllowMethods,
    string AllowHeaders,
    string ExposeHeaders,
    string MaxAge,
    bool AllowCredentials,
    FractionRuntime? FilterEnabled,
    FractionRuntime? ShadowEnabled);

/// <summary>A compiled <c>RequestMirrorPolicy</c>.</summary>
internal sealed record MirrorPolicyRuntime(string Cluster, FractionRuntime? Fraction, bool? TraceSampled);

/// <summary>What a hash policy hashes.</summary>
internal enum HashPolicyKind
{
    Header,
    Cookie,
    SourceIp,
    QueryParameter,
    FilterState,
}

/// <summary>A compiled <c>HashPolicy</c> (for consistent-hash load balancing).</summary>
internal sealed record HashPolicyRuntime(HashPolicyKind Kind, string Name, TimeSpan? CookieTtl, string? CookiePath, RegexRewrite? Rewrite, bool Terminal);

/// <summary>Typed per-filter configuration compiled into runtime objects, keyed by the HTTP filter's name.</summary>
internal sealed class PerFilterConfig(FrozenDictionary<string, object> configs)
{
    public static PerFilterConfig Empty { get; } = new(FrozenDictionary<string, object>.Empty);

    public FrozenDictionary<string, object> Configs { get; } = configs;

    public bool TryGet(string filterName, out object config) => Configs.TryGetValue(filterName, out config!);
}
