namespace Skein.Api.Model;

/// <summary>
/// Conditions an HTTP request must meet (Istio HTTPMatchRequest). All conditions in one match
/// must hold; a route matches if any of its matches does. Also used by RateLimit.
/// </summary>
public sealed record HttpMatchRequest : IValidatable
{
    private const string ClaimPrefix = "@request.auth.claims.";

    /// <summary>A name for the match, appended to the route name in access logs.</summary>
    public string? Name { get; init; }

    /// <summary>The request path. Case-sensitive unless ignoreUriCase is set.</summary>
    public StringMatch? Uri { get; init; }

    /// <summary>The URI scheme (http, https).</summary>
    public StringMatch? Scheme { get; init; }

    /// <summary>The HTTP method.</summary>
    public StringMatch? Method { get; init; }

    /// <summary>The HTTP authority (Host header).</summary>
    public StringMatch? Authority { get; init; }

    /// <summary>
    /// Request headers by lower-case name; <c>{}</c> matches on presence. Keys of the form
    /// <c>@request.auth.claims.NAME</c> match JWT claims. The keys uri, scheme, method and
    /// authority are ignored.
    /// </summary>
    public IReadOnlyDictionary<string, StringMatch>? Headers { get; init; }

    /// <summary>The port on the host being addressed.</summary>
    [Range(1, 65535)]
    public int? Port { get; init; }

    /// <summary>Labels the calling workload must carry; only applies to sidecars (the "mesh" gateway).</summary>
    [Format(ValueFormat.Labels)]
    public IReadOnlyDictionary<string, string>? SourceLabels { get; init; }

    /// <summary>Gateways the match applies to; overrides the VirtualService's gateways.</summary>
    public IReadOnlyList<string>? Gateways { get; init; }

    /// <summary>Query parameters by name; <c>exact: ""</c> matches a parameter without a value.</summary>
    public IReadOnlyDictionary<string, StringMatch>? QueryParams { get; init; }

    /// <summary>Match the URI case-insensitively (exact and prefix matches only).</summary>
    public bool? IgnoreUriCase { get; init; }

    /// <summary>Headers that must not match; same syntax as headers.</summary>
    public IReadOnlyDictionary<string, StringMatch>? WithoutHeaders { get; init; }

    /// <summary>The namespace the calling workload must be in.</summary>
    [Format(ValueFormat.DnsName)]
    public string? SourceNamespace { get; init; }

    /// <summary>Prefix for the proxy's per-route statistics (route.&lt;statPrefix&gt;).</summary>
    public string? StatPrefix { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        StringMatch.RequireValue(context, "uri", Uri);
        StringMatch.RequireValue(context, "scheme", Scheme);
        StringMatch.RequireValue(context, "method", Method);
        StringMatch.RequireValue(context, "authority", Authority);
        CheckHeaderKeys(context, "headers", Headers);
        CheckHeaderKeys(context, "withoutHeaders", WithoutHeaders);
        ModelRules.GatewayNames(context, "gateways", Gateways);

        if (IgnoreUriCase == true && Uri?.Regex is not null)
        {
            context.Warning("ignoreUriCase", "has no effect on a regex uri match; use (?i) in the regex");
        }
    }

    private static void CheckHeaderKeys(ValidationContext context, string field, IReadOnlyDictionary<string, StringMatch>? headers)
    {
        if (headers is null)
        {
            return;
        }

        foreach (var name in headers.Keys)
        {
            var path = ModelRules.Entry(field, name);
            if (name.StartsWith(ClaimPrefix, StringComparison.Ordinal))
            {
                if (name.Length == ClaimPrefix.Length)
                {
                    context.KeyError(path, $"\"{name}\" must name a claim");
                }

                continue;
            }

            if (name is "uri" or "scheme" or "method" or "authority")
            {
                context.Warning(path, $"a header match on \"{name}\" is ignored; use the {name} field");
                continue;
            }

            if (!ModelRules.IsHeaderToken(name))
            {
                context.KeyError(path, $"\"{name}\" is not a valid header name");
            }
            else if (name.Any(char.IsAsciiLetterUpper))
            {
                context.KeyError(path, $"header name \"{name}\" must be lower case");
            }
        }
    }
}
