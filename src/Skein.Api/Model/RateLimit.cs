namespace Skein.Api.Model;

/// <summary>Skein RateLimit (skein.dev/v1alpha1): a token-bucket limit on requests to a service.</summary>
public sealed record RateLimit : Resource<RateLimitSpec>;

/// <summary>Which service and requests are limited, and how much.</summary>
[OneOf(nameof(Service), nameof(TargetRef), Required = true)]
public sealed record RateLimitSpec : IValidatable
{
    /// <summary>The host of the service to limit, as in a VirtualService destination (instead of targetRef).</summary>
    [Format(ValueFormat.Host)]
    public string? Service { get; init; }

    /// <summary>The Service or ServiceEntry to limit (instead of service).</summary>
    public PolicyTargetReference? TargetRef { get; init; }

    /// <summary>Only requests matching one of these are limited (and counted); all requests when omitted.</summary>
    public IReadOnlyList<HttpMatchRequest>? Match { get; init; }

    /// <summary>Requests allowed per unit of time.</summary>
    [Required, Range(1, int.MaxValue)]
    public int? RequestsPerUnit { get; init; }

    /// <summary>The unit of time: SECOND, MINUTE, HOUR or DAY.</summary>
    [Required]
    public RateLimitUnit? Unit { get; init; }

    /// <summary>Extra requests allowed in a burst above the steady rate (0 by default).</summary>
    [Range(0, int.MaxValue)]
    public int? Burst { get; init; }

    /// <summary>The workloads whose sidecars enforce the limit; the service's own workloads when omitted.</summary>
    public WorkloadSelector? Selector { get; init; }

    void IValidatable.Validate(ValidationContext context)
    {
        if (Service == "*")
        {
            context.Error("service", "must name a service, not \"*\"");
        }

        TargetRef?.RequireKind(context, "targetRef", ("", "Service"), ("networking.istio.io", "ServiceEntry"));
    }
}

/// <summary>The unit of time a rate limit counts requests over.</summary>
public enum RateLimitUnit
{
    /// <summary>Per second.</summary>
    Second,

    /// <summary>Per minute.</summary>
    Minute,

    /// <summary>Per hour.</summary>
    Hour,

    /// <summary>Per day.</summary>
    Day,
}
