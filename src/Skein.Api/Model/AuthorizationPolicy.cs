namespace Skein.Api.Model;

/// <summary>Istio AuthorizationPolicy: allows, denies, audits or delegates requests to workloads.</summary>
public sealed record AuthorizationPolicy : Resource<AuthorizationPolicySpec>;

/// <summary>Which workloads the policy applies to, what it does, and the requests it matches.</summary>
[OneOf(nameof(Selector), nameof(TargetRef), nameof(TargetRefs))]
public sealed record AuthorizationPolicySpec : IValidatable
{
    private static readonly (string Group, string Kind)[] TargetKinds =
    [
        ("gateway.networking.k8s.io", "Gateway"),
        ("gateway.networking.k8s.io", "GatewayClass"),
        ("", "Service"),
        ("networking.istio.io", "ServiceEntry"),
    ];

    /// <summary>The workloads the policy applies to; every workload in the namespace when omitted.</summary>
    public WorkloadSelector? Selector { get; init; }

    /// <summary>A Gateway, GatewayClass, Service or ServiceEntry the policy attaches to (instead of selector).</summary>
    public PolicyTargetReference? TargetRef { get; init; }

    /// <summary>Several resources the policy attaches to (instead of selector).</summary>
    public IReadOnlyList<PolicyTargetReference>? TargetRefs { get; init; }

    /// <summary>
    /// The requests the policy matches: any rule may match. No rules matches nothing; a single
    /// empty rule matches everything.
    /// </summary>
    public IReadOnlyList<AuthorizationRule>? Rules { get; init; }

    /// <summary>What to do with matching requests: ALLOW (the default), DENY, AUDIT or CUSTOM.</summary>
    public AuthorizationAction? Action { get; init; }

    /// <summary>The external authorizer that decides; required with, and only allowed with, action CUSTOM.</summary>
    public ExtensionProvider? Provider { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Action == AuthorizationAction.Custom && Provider is null)
        {
            context.Error("provider", "is required when action is CUSTOM");
        }
        else if (Action != AuthorizationAction.Custom && Provider is not null)
        {
            context.Error("provider", "is only allowed when action is CUSTOM");
        }

        TargetRef?.RequireKind(context, "targetRef", TargetKinds);
        for (var i = 0; i < (TargetRefs?.Count ?? 0); i++)
        {
            TargetRefs![i].RequireKind(context, ModelRules.Item("targetRefs", i), TargetKinds);
        }
    }
}

/// <summary>What an AuthorizationPolicy does with the requests it matches.</summary>
public enum AuthorizationAction
{
    /// <summary>Allow matching requests (and deny others when any ALLOW policy applies).</summary>
    Allow,

    /// <summary>Deny matching requests; checked before ALLOW.</summary>
    Deny,

    /// <summary>Mark matching requests for auditing; does not affect the decision.</summary>
    Audit,

    /// <summary>Let an external authorizer (provider) decide.</summary>
    Custom,
}

/// <summary>An extension provider named in the mesh configuration.</summary>
public sealed record ExtensionProvider : IValidatable
{
    /// <summary>The provider's name in the mesh configuration.</summary>
    public string? Name { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (string.IsNullOrEmpty(Name))
        {
            context.Error("name", "is required");
        }
    }
}

/// <summary>Matches requests by source (from), operation (to) and conditions (when); all parts must match.</summary>
public sealed record AuthorizationRule : IValidatable
{
    /// <summary>Who sends the request; any entry may match. Any source when omitted.</summary>
    public IReadOnlyList<AuthorizationRuleFrom>? From { get; init; }

    /// <summary>What the request does; any entry may match. Any operation when omitted.</summary>
    public IReadOnlyList<AuthorizationRuleTo>? To { get; init; }

    /// <summary>Further conditions on request attributes; all must hold.</summary>
    public IReadOnlyList<AuthorizationCondition>? When { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (From is { Count: 0 })
        {
            context.Error("from", "must not be empty when set (omit it to match any source)");
        }

        if (To is { Count: 0 })
        {
            context.Error("to", "must not be empty when set (omit it to match any operation)");
        }
    }
}

/// <summary>One source a rule matches.</summary>
public sealed record AuthorizationRuleFrom : IValidatable
{
    /// <summary>The source's attributes.</summary>
    public AuthorizationSource? Source { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Source is null)
        {
            context.Error("source", "is required");
        }
    }
}

/// <summary>One operation a rule matches.</summary>
public sealed record AuthorizationRuleTo : IValidatable
{
    /// <summary>The operation's attributes.</summary>
    public AuthorizationOperation? Operation { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Operation is null)
        {
            context.Error("operation", "is required");
        }
    }
}

/// <summary>
/// Attributes of a request's source. Fields are ANDed; values within a field are ORed. Strings
/// match exactly, by prefix ("abc*"), by suffix ("*abc") or by presence ("*").
/// </summary>
public sealed record AuthorizationSource : IValidatable
{
    /// <summary>Peer identities from mTLS, "trust-domain/ns/NAMESPACE/sa/ACCOUNT".</summary>
    public IReadOnlyList<string>? Principals { get; init; }

    /// <summary>Peer identities that must not match.</summary>
    public IReadOnlyList<string>? NotPrincipals { get; init; }

    /// <summary>Request identities from JWTs, "ISSUER/SUBJECT".</summary>
    public IReadOnlyList<string>? RequestPrincipals { get; init; }

    /// <summary>Request identities that must not match.</summary>
    public IReadOnlyList<string>? NotRequestPrincipals { get; init; }

    /// <summary>Namespaces of the peer (from its mTLS identity).</summary>
    public IReadOnlyList<string>? Namespaces { get; init; }

    /// <summary>Peer namespaces that must not match.</summary>
    public IReadOnlyList<string>? NotNamespaces { get; init; }

    /// <summary>Source IP addresses or CIDR blocks of the connection.</summary>
    [Format(ValueFormat.Cidr)]
    public IReadOnlyList<string>? IpBlocks { get; init; }

    /// <summary>Connection source addresses that must not match.</summary>
    [Format(ValueFormat.Cidr)]
    public IReadOnlyList<string>? NotIpBlocks { get; init; }

    /// <summary>Original client addresses (X-Forwarded-For or PROXY protocol).</summary>
    [Format(ValueFormat.Cidr)]
    public IReadOnlyList<string>? RemoteIpBlocks { get; init; }

    /// <summary>Original client addresses that must not match.</summary>
    [Format(ValueFormat.Cidr)]
    public IReadOnlyList<string>? NotRemoteIpBlocks { get; init; }

    /// <summary>Service accounts of the peer, "NAMESPACE/ACCOUNT" (not with principals or namespaces).</summary>
    public IReadOnlyList<string>? ServiceAccounts { get; init; }

    /// <summary>Peer service accounts that must not match.</summary>
    public IReadOnlyList<string>? NotServiceAccounts { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        var lists = new (string Name, IReadOnlyList<string>? Values)[]
        {
            ("principals", Principals), ("notPrincipals", NotPrincipals),
            ("requestPrincipals", RequestPrincipals), ("notRequestPrincipals", NotRequestPrincipals),
            ("namespaces", Namespaces), ("notNamespaces", NotNamespaces),
            ("ipBlocks", IpBlocks), ("notIpBlocks", NotIpBlocks),
            ("remoteIpBlocks", RemoteIpBlocks), ("notRemoteIpBlocks", NotRemoteIpBlocks),
            ("serviceAccounts", ServiceAccounts), ("notServiceAccounts", NotServiceAccounts),
        };

        if (lists.All(l => l.Values is not { Count: > 0 }))
        {
            context.Error("", "a source must set at least one field");
        }

        foreach (var (name, values) in lists)
        {
            ModelRules.NoEmptyValues(context, name, values);
        }

        if ((ServiceAccounts is not null || NotServiceAccounts is not null) &&
            (Principals is not null || NotPrincipals is not null || Namespaces is not null || NotNamespaces is not null))
        {
            context.Error(ServiceAccounts is not null ? "serviceAccounts" : "notServiceAccounts", "cannot be combined with principals or namespaces");
        }

        CheckServiceAccounts(context, "serviceAccounts", ServiceAccounts);
        CheckServiceAccounts(context, "notServiceAccounts", NotServiceAccounts);
    }

    private static void CheckServiceAccounts(ValidationContext context, string field, IReadOnlyList<string>? accounts)
    {
        for (var i = 0; i < (accounts?.Count ?? 0); i++)
        {
            var parts = accounts![i].Split('/');
            if (accounts[i].Length > 0 && (parts.Length != 2 || !ModelRules.IsDnsLabel(parts[0]) || Validation.Formats.Check(ValueFormat.DnsName, parts[1]) is not null))
            {
                context.Error(ModelRules.Item(field, i), $"\"{accounts[i]}\" must be \"namespace/serviceaccount\"");
            }
        }
    }
}

/// <summary>
/// Attributes of a request's operation. Fields are ANDed; values within a field are ORed. Strings
/// match exactly, by prefix ("abc*"), by suffix ("*abc") or by presence ("*").
/// </summary>
public sealed record AuthorizationOperation : IValidatable
{
    /// <summary>Host names (Host or :authority) of the request; HTTP only.</summary>
    public IReadOnlyList<string>? Hosts { get; init; }

    /// <summary>Host names that must not match.</summary>
    public IReadOnlyList<string>? NotHosts { get; init; }

    /// <summary>Destination ports of the connection, as strings ("8080").</summary>
    public IReadOnlyList<string>? Ports { get; init; }

    /// <summary>Destination ports that must not match.</summary>
    public IReadOnlyList<string>? NotPorts { get; init; }

    /// <summary>HTTP methods; gRPC requests are always POST. HTTP only.</summary>
    [Format(ValueFormat.HttpMethod)]
    public IReadOnlyList<string>? Methods { get; init; }

    /// <summary>HTTP methods that must not match.</summary>
    [Format(ValueFormat.HttpMethod)]
    public IReadOnlyList<string>? NotMethods { get; init; }

    /// <summary>
    /// Request paths (normalized, without the query); "/api/*" prefix, "*.html" suffix, "*" any, and
    /// templates "{*}" (one segment) and "{**}" (the rest). gRPC paths are "/package.Service/Method". HTTP only.
    /// </summary>
    public IReadOnlyList<string>? Paths { get; init; }

    /// <summary>Paths that must not match.</summary>
    public IReadOnlyList<string>? NotPaths { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        var lists = new (string Name, IReadOnlyList<string>? Values)[]
        {
            ("hosts", Hosts), ("notHosts", NotHosts), ("ports", Ports), ("notPorts", NotPorts),
            ("methods", Methods), ("notMethods", NotMethods), ("paths", Paths), ("notPaths", NotPaths),
        };

        if (lists.All(l => l.Values is not { Count: > 0 }))
        {
            context.Error("", "an operation must set at least one field");
        }

        foreach (var (name, values) in lists)
        {
            ModelRules.NoEmptyValues(context, name, values);
        }

        CheckPorts(context, "ports", Ports);
        CheckPorts(context, "notPorts", NotPorts);
        CheckPaths(context, "paths", Paths);
        CheckPaths(context, "notPaths", NotPaths);
    }

    private static void CheckPorts(ValidationContext context, string field, IReadOnlyList<string>? ports)
    {
        for (var i = 0; i < (ports?.Count ?? 0); i++)
        {
            if (ports![i].Length > 0 && !ModelRules.IsPortString(ports[i]))
            {
                context.Error(ModelRules.Item(field, i), $"port \"{ports[i]}\" must be a number between 1 and 65535");
            }
        }
    }

    private static void CheckPaths(ValidationContext context, string field, IReadOnlyList<string>? paths)
    {
        for (var i = 0; i < (paths?.Count ?? 0); i++)
        {
            var path = paths![i];
            if (path.Length == 0)
            {
                continue;
            }

            if (!path.StartsWith('/') && !path.StartsWith('*'))
            {
                context.Error(ModelRules.Item(field, i), $"path \"{path}\" must start with \"/\" or \"*\"");
            }
            else if ((path.Contains('{') || path.Contains('}')) && !IsValidTemplate(path))
            {
                context.Error(ModelRules.Item(field, i), $"invalid path template \"{path}\": \"{{*}}\" and \"{{**}}\" must be whole segments, and \"{{**}}\" must be last");
            }
        }
    }

    private static bool IsValidTemplate(string path)
    {
        var segments = path.Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            var segment = segments[i];
            if (!segment.Contains('{') && !segment.Contains('}'))
            {
                continue;
            }

            if (segment == "{**}" ? i != segments.Length - 1 : segment != "{*}")
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>A condition on a request attribute (Istio Condition), e.g. request.headers[version] in [v1].</summary>
public sealed record AuthorizationCondition : IValidatable
{
    private static readonly HashSet<string> PlainKeys = new(StringComparer.Ordinal)
    {
        "source.ip", "remote.ip", "source.namespace", "source.principal",
        "request.auth.principal", "request.auth.audiences", "request.auth.presenter",
        "destination.ip", "destination.port", "connection.sni",
    };

    /// <summary>
    /// The attribute: request.headers[NAME], source.ip, remote.ip, source.namespace,
    /// source.principal, request.auth.principal, request.auth.audiences, request.auth.presenter,
    /// request.auth.claims[NAME], destination.ip, destination.port, connection.sni or
    /// experimental.envoy.filters.*[KEY].
    /// </summary>
    [Required]
    public string? Key { get; init; }

    /// <summary>Values the attribute must match (one of them).</summary>
    public IReadOnlyList<string>? Values { get; init; }

    /// <summary>Values the attribute must not match.</summary>
    public IReadOnlyList<string>? NotValues { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Key is null)
        {
            return;
        }

        if (Values is not { Count: > 0 } && NotValues is not { Count: > 0 })
        {
            context.Error("", $"condition on \"{Key}\" must set values or notValues");
        }

        if (!IsKnownKey(Key))
        {
            context.Error("key", $"unknown condition key \"{Key}\"");
            return;
        }

        ModelRules.NoEmptyValues(context, "values", Values);
        ModelRules.NoEmptyValues(context, "notValues", NotValues);
        if (Key is "source.ip" or "remote.ip" or "destination.ip")
        {
            CheckValues(context, v => Validation.Formats.Check(ValueFormat.Cidr, v));
        }
        else if (Key == "destination.port")
        {
            CheckValues(context, v => ModelRules.IsPortString(v) ? null : $"port \"{v}\" must be a number between 1 and 65535");
        }
    }

    private static bool IsKnownKey(string key)
    {
        if (PlainKeys.Contains(key))
        {
            return true;
        }

        foreach (var prefix in (ReadOnlySpan<string>)["request.headers[", "request.auth.claims[", "experimental.envoy.filters."])
        {
            if (key.StartsWith(prefix, StringComparison.Ordinal))
            {
                // The bracketed name must be present and non-empty: request.headers[x-user].
                var open = key.IndexOf('[', StringComparison.Ordinal);
                return open > 0 && key.EndsWith(']') && key.Length - open > 2;
            }
        }

        return false;
    }

    private void CheckValues(ValidationContext context, Func<string, string?> check)
    {
        foreach (var (field, values) in new[] { ("values", Values), ("notValues", NotValues) })
        {
            for (var i = 0; i < (values?.Count ?? 0); i++)
            {
                if (values![i].Length > 0 && check(values[i]) is { } message)
                {
                    context.Error(ModelRules.Item(field, i), message);
                }
            }
        }
    }
}
