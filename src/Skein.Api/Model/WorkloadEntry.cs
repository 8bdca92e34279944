namespace Skein.Api.Model;

/// <summary>Istio WorkloadEntry: a workload that is not a Kubernetes pod (a VM, a process), selectable like one.</summary>
public sealed record WorkloadEntry : Resource<WorkloadEntrySpec>;

/// <summary>One workload endpoint: an address with ports and labels. Also a ServiceEntry endpoint.</summary>
public sealed record WorkloadEntrySpec : IValidatable
{
    private const string UnixPrefix = "unix://";

    /// <summary>
    /// The endpoint's address without a port: an IP address, a host name (DNS resolution), or a
    /// Unix domain socket as unix:///absolute/path or unix://@abstract. May be omitted when network is set.
    /// </summary>
    public string? Address { get; init; }

    /// <summary>Endpoint ports by service port name; the service port number is used for names not listed.</summary>
    [Range(1, 65535)]
    public IReadOnlyDictionary<string, int>? Ports { get; init; }

    /// <summary>Labels of the workload, matched by selectors and subsets.</summary>
    [Format(ValueFormat.Labels)]
    public IReadOnlyDictionary<string, string>? Labels { get; init; }

    /// <summary>The network the endpoint is on; endpoints on other networks are reached through that network's gateway.</summary>
    public string? Network { get; init; }

    /// <summary>The endpoint's locality, "region/zone/subzone", for locality-aware load balancing.</summary>
    public string? Locality { get; init; }

    /// <summary>The endpoint's load balancing weight relative to the others.</summary>
    [Range(0, int.MaxValue)]
    public int? Weight { get; init; }

    /// <summary>The service account the workload runs as (its mTLS identity).</summary>
    [Format(ValueFormat.DnsName)]
    public string? ServiceAccount { get; init; }

    /// <summary>True when the address is a Unix domain socket.</summary>
    internal bool IsUnixSocket => Address?.StartsWith(UnixPrefix, StringComparison.Ordinal) == true;

    void IValidatable.Validate(ValidationContext context)
    {
        if (string.IsNullOrEmpty(Address))
        {
            if (string.IsNullOrEmpty(Network))
            {
                context.Error("address", "is required unless network is set");
            }
        }
        else if (IsUnixSocket)
        {
            var path = Address[UnixPrefix.Length..];
            if (path.Length < 2 || path[0] is not ('/' or '@'))
            {
                context.Error("address", "a unix socket address must be an absolute path (unix:///path) or an abstract socket (unix://@name)");
            }
            else if (path.EndsWith('/'))
            {
                context.Error("address", "a unix socket address must not be a directory");
            }

            if (Ports is not null)
            {
                context.Error("ports", "a unix socket address cannot have ports");
            }
        }
        else if (!ModelRules.IsIpAddress(Address) && !ModelRules.IsFqdn(Address))
        {
            context.Error("address", $"\"{Address}\" is not an IP address, a host name or a unix:// socket");
        }

        foreach (var name in Ports?.Keys ?? [])
        {
            if (!ModelRules.IsPortName(name))
            {
                context.KeyError(ModelRules.Entry("ports", name), $"invalid port name \"{name}\": letters, digits and '-', starting and ending with a letter or digit");
            }
        }
    }
}
