namespace Skein.Api.Model;

/// <summary>Istio VirtualService: routing rules for traffic addressed to a set of hosts.</summary>
public sealed record VirtualService : Resource<VirtualServiceSpec>;

/// <summary>Routing rules for HTTP, TLS and TCP traffic to a set of hosts.</summary>
public sealed record VirtualServiceSpec : IValidatable
{
    /// <summary>
    /// The hosts the rules apply to: DNS names, optionally with a "*." prefix, or short names
    /// resolved in the rule's namespace. Empty for a delegate VirtualService.
    /// </summary>
    [Format(ValueFormat.Host)]
    public IReadOnlyList<string>? Hosts { get; init; }

    /// <summary>
    /// Gateways and sidecars that apply the rules: "name", "namespace/name", or "mesh" for all
    /// sidecars (the default when omitted).
    /// </summary>
    public IReadOnlyList<string>? Gateways { get; init; }

    /// <summary>Ordered rules for HTTP/1.1, HTTP/2 and gRPC traffic; the first match wins.</summary>
    public IReadOnlyList<HttpRoute>? Http { get; init; }

    /// <summary>Ordered rules for TLS traffic that is passed through (routed by SNI).</summary>
    public IReadOnlyList<TlsRoute>? Tls { get; init; }

    /// <summary>Ordered rules for opaque TCP traffic.</summary>
    public IReadOnlyList<TcpRoute>? Tcp { get; init; }

    /// <summary>Namespaces that can see this resource: "." (its own), "*" (all, the default) or names.</summary>
    public IReadOnlyList<string>? ExportTo { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        var hosts = Hosts ?? [];
        var isDelegate = hosts.Count == 0;
        var boundToMesh = Gateways is null || Gateways.Count == 0 || Gateways.Contains("mesh");

        if (isDelegate)
        {
            if (Gateways is { Count: > 0 })
            {
                context.Error("gateways", "must be empty in a delegate VirtualService (one without hosts)");
            }

            if (Tls is { Count: > 0 })
            {
                context.Error("tls", "a delegate VirtualService (one without hosts) can only have http routes");
            }

            if (Tcp is { Count: > 0 })
            {
                context.Error("tcp", "a delegate VirtualService (one without hosts) can only have http routes");
            }
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < hosts.Count; i++)
        {
            if (hosts[i] == "*" && boundToMesh)
            {
                context.Error(ModelRules.Item("hosts", i), "\"*\" is not allowed when the VirtualService applies to sidecars (mesh)");
            }

            if (!seen.Add(hosts[i]))
            {
                context.Error(ModelRules.Item("hosts", i), $"duplicate host \"{hosts[i]}\"");
            }
        }

        if ((Http?.Count ?? 0) + (Tls?.Count ?? 0) + (Tcp?.Count ?? 0) == 0)
        {
            context.Error("", "at least one of http, tls or tcp routes is required");
        }

        ModelRules.GatewayNames(context, "gateways", Gateways);
        ModelRules.ExportTo(context, ExportTo, allowNone: false);

        // An SNI host must fall within one of the VirtualService's hosts.
        for (var r = 0; r < (Tls?.Count ?? 0); r++)
        {
            var matches = Tls![r].Match ?? [];
            for (var m = 0; m < matches.Count; m++)
            {
                var sniHosts = matches[m].SniHosts ?? [];
                for (var s = 0; s < sniHosts.Count; s++)
                {
                    if (hosts.Count > 0 && !hosts.Any(h => HostNames.IsSubsetOf(sniHosts[s], h)))
                    {
                        context.Error($"tls[{r}].match[{m}].sniHosts[{s}]", $"SNI host \"{sniHosts[s]}\" is not within any of the hosts ({string.Join(", ", hosts)})");
                    }
                }
            }
        }
    }
}

/// <summary>How traffic is routed for requests that match (Istio HTTPRoute).</summary>
public sealed record HttpRoute : IValidatable
{
    /// <summary>A name for the route, shown in access logs.</summary>
    public string? Name { get; init; }

    /// <summary>Conditions for the rule; any one may match. Without matches the rule matches everything.</summary>
    public IReadOnlyList<HttpMatchRequest>? Match { get; init; }

    /// <summary>Destinations to forward to, with weights when there are several.</summary>
    public IReadOnlyList<HttpRouteDestination>? Route { get; init; }

    /// <summary>Answer with a redirect instead of forwarding.</summary>
    public HttpRedirect? Redirect { get; init; }

    /// <summary>Answer with a fixed response instead of forwarding.</summary>
    public HttpDirectResponse? DirectResponse { get; init; }

    /// <summary>Take the routes from another VirtualService (only when route, redirect and directResponse are unset).</summary>
    public HttpDelegate? Delegate { get; init; }

    /// <summary>Rewrite the path or authority before forwarding.</summary>
    public HttpRewrite? Rewrite { get; init; }

    /// <summary>Timeout for the whole request, including retries; disabled by default.</summary>
    public Duration? Timeout { get; init; }

    /// <summary>Retry policy.</summary>
    public HttpRetry? Retries { get; init; }

    /// <summary>Faults to inject (delays and aborts); retries and timeouts are not applied while faults are.</summary>
    public HttpFaultInjection? Fault { get; init; }

    /// <summary>Also send a copy of each request to this destination, without waiting for its answer.</summary>
    public Destination? Mirror { get; init; }

    /// <summary>Also send copies of requests to these destinations (instead of mirror).</summary>
    public IReadOnlyList<HttpMirrorPolicy>? Mirrors { get; init; }

    /// <summary>Deprecated integer form of mirrorPercentage.</summary>
    [Range(0, 100)]
    public int? MirrorPercent { get; init; }

    /// <summary>Share of requests copied to mirror; 100% when absent.</summary>
    public Percent? MirrorPercentage { get; init; }

    /// <summary>Cross-origin resource sharing policy.</summary>
    public CorsPolicy? CorsPolicy { get; init; }

    /// <summary>Header changes for requests and responses on this route.</summary>
    public HeaderManipulation? Headers { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        var hasRoute = Route is { Count: > 0 };
        if (Redirect is not null)
        {
            if (hasRoute)
            {
                context.Error("redirect", "cannot be combined with route");
            }

            if (DirectResponse is not null)
            {
                context.Error("directResponse", "cannot be combined with redirect");
            }

            if (Fault is not null)
            {
                context.Error("fault", "cannot be combined with redirect");
            }

            if (Rewrite is not null)
            {
                context.Error("rewrite", "cannot be combined with redirect");
            }
        }

        if (DirectResponse is not null)
        {
            if (hasRoute)
            {
                context.Error("directResponse", "cannot be combined with route");
            }

            if (Fault is not null)
            {
                context.Error("fault", "cannot be combined with directResponse");
            }

            if (Rewrite is not null)
            {
                context.Error("rewrite", "cannot be combined with directResponse");
            }
        }

        if (Delegate is not null && (hasRoute || Redirect is not null || DirectResponse is not null))
        {
            context.Error("delegate", "cannot be combined with route, redirect or directResponse");
        }

        if (!hasRoute && Redirect is null && DirectResponse is null && Delegate is null)
        {
            context.Error("", "one of route, redirect, directResponse or delegate is required");
        }

        if (Route is not null)
        {
            ModelRules.WeightsSumTo100(context, "route", Route.Select(r => r.Weight).ToList());
        }

        if (Mirror is not null && Mirrors is not null)
        {
            context.Error("mirrors", "cannot be combined with mirror");
        }

        if (Mirror is null)
        {
            if (MirrorPercentage is not null)
            {
                context.Error("mirrorPercentage", "requires mirror (use mirrors[].percentage with mirrors)");
            }

            if (MirrorPercent is not null)
            {
                context.Error("mirrorPercent", "requires mirror (use mirrors[].percentage with mirrors)");
            }
        }

        if (MirrorPercent is not null && MirrorPercentage is not null)
        {
            context.Error("mirrorPercent", "cannot be combined with mirrorPercentage");
        }

        ModelRules.Deprecated(context, "mirrorPercent", MirrorPercent is not null, "mirrorPercentage");
        // "timeout: 0s" disables the timeout, as in Istio and Envoy.
        if (Timeout is not { Value.Ticks: 0 })
        {
            ModelRules.AtLeastOneMillisecond(context, "timeout", Timeout);
        }
    }
}

/// <summary>A weighted destination of an HTTP route, with its own header changes.</summary>
public sealed record HttpRouteDestination
{
    /// <summary>Where to send the request.</summary>
    [Required]
    public Destination? Destination { get; init; }

    /// <summary>Percentage of the route's traffic (0-100); a single destination gets all traffic.</summary>
    [Range(0, 100)]
    public int? Weight { get; init; }

    /// <summary>Header changes applied only when this destination is chosen.</summary>
    public HeaderManipulation? Headers { get; init; }
}

/// <summary>A weighted destination of a TCP or TLS route.</summary>
public sealed record RouteDestination
{
    /// <summary>Where to send the connection.</summary>
    [Required]
    public Destination? Destination { get; init; }

    /// <summary>Percentage of the route's connections (0-100); a single destination gets all of them.</summary>
    [Range(0, 100)]
    public int? Weight { get; init; }
}

/// <summary>Names the VirtualService whose HTTP routes are merged into this route.</summary>
public sealed record HttpDelegate : IValidatable
{
    /// <summary>The delegate VirtualService's name.</summary>
    public string? Name { get; init; }

    /// <summary>Its namespace; the root VirtualService's namespace when omitted.</summary>
    [Format(ValueFormat.DnsName)]
    public string? Namespace { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (string.IsNullOrEmpty(Name))
        {
            context.Error("name", "is required");
        }
    }
}

/// <summary>Header changes for requests (before forwarding) and responses (before returning).</summary>
public sealed record HeaderManipulation
{
    /// <summary>Changes to the request sent to the destination.</summary>
    public HeaderOperations? Request { get; init; }

    /// <summary>Changes to the response returned to the caller.</summary>
    public HeaderOperations? Response { get; init; }
}

/// <summary>Set, append and remove headers.</summary>
public sealed record HeaderOperations : IValidatable
{
    /// <summary>Headers to overwrite, by name.</summary>
    public IReadOnlyDictionary<string, string>? Set { get; init; }

    /// <summary>Values to append to headers, by name (comma-separated when the header exists).</summary>
    public IReadOnlyDictionary<string, string>? Add { get; init; }

    /// <summary>Headers to remove.</summary>
    public IReadOnlyList<string>? Remove { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        CheckMap(context, "set", Set);
        CheckMap(context, "add", Add);
        for (var i = 0; i < (Remove?.Count ?? 0); i++)
        {
            var name = Remove![i];
            var path = ModelRules.Item("remove", i);
            CheckName(context, path, name);
            if (string.Equals(name, "host", StringComparison.OrdinalIgnoreCase))
            {
                context.Error(path, "the host header cannot be removed");
            }
        }
    }

    private static void CheckMap(ValidationContext context, string field, IReadOnlyDictionary<string, string>? headers)
    {
        if (headers is null)
        {
            return;
        }

        foreach (var (name, value) in headers)
        {
            var path = ModelRules.Entry(field, name);
            CheckName(context, path, name);
            if (value.Contains('\r') || value.Contains('\n'))
            {
                context.Error(path, "header values must not contain line breaks");
            }
        }
    }

    private static void CheckName(ValidationContext context, string path, string name)
    {
        if (name.StartsWith(':'))
        {
            context.KeyError(path, $"pseudo-header \"{name}\" cannot be changed");
        }
        else if (!ModelRules.IsHeaderToken(name))
        {
            context.KeyError(path, $"\"{name}\" is not a valid header name");
        }
    }
}

/// <summary>Rules for opaque TCP traffic (Istio TCPRoute).</summary>
public sealed record TcpRoute : IValidatable
{
    /// <summary>Conditions for the rule; any one may match.</summary>
    public IReadOnlyList<L4MatchAttributes>? Match { get; init; }

    /// <summary>Destinations to forward connections to.</summary>
    public IReadOnlyList<RouteDestination>? Route { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Route is not { Count: > 0 })
        {
            context.Error("route", "at least one destination is required");
            return;
        }

        ModelRules.WeightsSumTo100(context, "route", Route.Select(r => r.Weight).ToList());
    }
}

/// <summary>Rules for TLS traffic passed through unterminated, routed by SNI (Istio TLSRoute).</summary>
public sealed record TlsRoute : IValidatable
{
    /// <summary>Conditions for the rule; any one may match.</summary>
    [Required]
    public IReadOnlyList<TlsMatchAttributes>? Match { get; init; }

    /// <summary>Destinations to forward connections to.</summary>
    public IReadOnlyList<RouteDestination>? Route { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Match is { Count: 0 })
        {
            context.Error("match", "at least one match is required");
        }

        if (Route is not { Count: > 0 })
        {
            context.Error("route", "at least one destination is required");
            return;
        }

        ModelRules.WeightsSumTo100(context, "route", Route.Select(r => r.Weight).ToList());
    }
}

/// <summary>Connection-level conditions for TCP routes (Istio L4MatchAttributes).</summary>
public sealed record L4MatchAttributes : IValidatable
{
    /// <summary>Destination IP addresses or CIDR blocks.</summary>
    [Format(ValueFormat.Cidr)]
    public IReadOnlyList<string>? DestinationSubnets { get; init; }

    /// <summary>The port being addressed.</summary>
    [Range(1, 65535)]
    public int? Port { get; init; }

    /// <summary>Source IP address or CIDR block (undocumented in Istio).</summary>
    [Format(ValueFormat.Cidr)]
    public string? SourceSubnet { get; init; }

    /// <summary>Labels the calling workload must carry.</summary>
    [Format(ValueFormat.Labels)]
    public IReadOnlyDictionary<string, string>? SourceLabels { get; init; }

    /// <summary>Gateways the match applies to; overrides the VirtualService's gateways.</summary>
    public IReadOnlyList<string>? Gateways { get; init; }

    /// <summary>The namespace the calling workload must be in.</summary>
    [Format(ValueFormat.DnsName)]
    public string? SourceNamespace { get; init; }

    void IValidatable.Validate(ValidationContext context) =>
        ModelRules.GatewayNames(context, "gateways", Gateways);
}

/// <summary>Connection-level conditions for TLS routes (Istio TLSMatchAttributes).</summary>
public sealed record TlsMatchAttributes : IValidatable
{
    /// <summary>SNI names to match, wildcards allowed; each must fall within the VirtualService's hosts.</summary>
    [Required, Format(ValueFormat.Host)]
    public IReadOnlyList<string>? SniHosts { get; init; }

    /// <summary>Destination IP addresses or CIDR blocks.</summary>
    [Format(ValueFormat.Cidr)]
    public IReadOnlyList<string>? DestinationSubnets { get; init; }

    /// <summary>The port being addressed.</summary>
    [Range(1, 65535)]
    public int? Port { get; init; }

    /// <summary>Labels the calling workload must carry.</summary>
    [Format(ValueFormat.Labels)]
    public IReadOnlyDictionary<string, string>? SourceLabels { get; init; }

    /// <summary>Gateways the match applies to; overrides the VirtualService's gateways.</summary>
    public IReadOnlyList<string>? Gateways { get; init; }

    /// <summary>The namespace the calling workload must be in.</summary>
    [Format(ValueFormat.DnsName)]
    public string? SourceNamespace { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (SniHosts is { Count: 0 })
        {
            context.Error("sniHosts", "at least one SNI host is required");
        }

        ModelRules.GatewayNames(context, "gateways", Gateways);
    }
}

/// <summary>Host-name wildcard comparison used for SNI hosts.</summary>
internal static class HostNames
{
    /// <summary>
    /// True when every name matched by <paramref name="candidate"/> is also matched by
    /// <paramref name="host"/> ("a.example.com" and "*.example.com" are within "*.example.com").
    /// </summary>
    public static bool IsSubsetOf(string candidate, string host)
    {
        if (host == "*" || string.Equals(candidate, host, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (!host.StartsWith("*.", StringComparison.Ordinal))
        {
            return false;
        }

        var suffix = host[1..];
        var name = candidate.StartsWith("*.", StringComparison.Ordinal) ? candidate[1..] : candidate;
        return name.Length > suffix.Length && name.EndsWith(suffix, StringComparison.OrdinalIgnoreCase);
    }
}
