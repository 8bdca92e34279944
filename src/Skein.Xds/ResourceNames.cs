using System.Globalization;

namespace Skein.Xds;

/// <summary>Which side of the proxy a cluster serves.</summary>
public enum ClusterDirection
{
    /// <summary>Traffic coming into the local workload (<c>inbound|port||</c>).</summary>
    Inbound,

    /// <summary>Traffic leaving the local workload (<c>outbound|port|subset|host</c>).</summary>
    Outbound,
}

/// <summary>A parsed Istio-style cluster name: <c>direction|port|subset|host</c>.</summary>
/// <param name="Direction">Inbound or outbound.</param>
/// <param name="Port">The service port (1-65535).</param>
/// <param name="Subset">The subset (e.g. <c>v1</c>), or the empty string for none.</param>
/// <param name="Host">The service host name, or the empty string (inbound clusters).</param>
public sealed record ClusterName(ClusterDirection Direction, int Port, string Subset, string Host)
{
    /// <summary>The cluster name in its wire form, e.g. <c>outbound|9080|v1|reviews.default.svc.cluster.local</c>.</summary>
    public override string ToString() =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"{(Direction == ClusterDirection.Inbound ? ResourceNames.InboundPrefix : ResourceNames.OutboundPrefix)}|{Port}|{Subset}|{Host}");
}

/// <summary>A proxyless gRPC target (<c>xds:///host:port</c>) as used for its Listener name.</summary>
/// <param name="Host">The host, without brackets for IPv6 literals.</param>
/// <param name="Port">The port (1-65535).</param>
public sealed record ProxylessTarget(string Host, int Port);

/// <summary>Istio-style xDS resource names, so that Envoy-style tooling reads Skein's config naturally.</summary>
public static class ResourceNames
{
    /// <summary>First segment of inbound cluster names.</summary>
    public const string InboundPrefix = "inbound";

    /// <summary>First segment of outbound cluster names.</summary>
    public const string OutboundPrefix = "outbound";

    /// <summary>The listener that captures all outbound traffic (original destination).</summary>
    public const string VirtualOutbound = "virtualOutbound";

    /// <summary>The listener that captures all inbound traffic (original destination).</summary>
    public const string VirtualInbound = "virtualInbound";

    /// <summary>The wildcard IPv4 address used in listener names.</summary>
    public const string WildcardAddress = "0.0.0.0";

    private const char Separator = '|';

    /// <summary>Outbound cluster: <c>outbound|9080|v1|reviews.default.svc.cluster.local</c>.</summary>
    /// <param name="port">The service port.</param>
    /// <param name="subset">The subset, or null/empty for the whole service.</param>
    /// <param name="host">The service host name.</param>
    public static string OutboundCluster(int port, string? subset, string host)
    {
        CheckPort(port);
        ArgumentException.ThrowIfNullOrEmpty(host);
        CheckSegment(host, nameof(host));
        CheckSegment(subset, nameof(subset));
        return new ClusterName(ClusterDirection.Outbound, port, subset ?? string.Empty, host).ToString();
    }

    /// <summary>Inbound cluster: <c>inbound|9080||</c>.</summary>
    public static string InboundCluster(int port)
    {
        CheckPort(port);
        return new ClusterName(ClusterDirection.Inbound, port, string.Empty, string.Empty).ToString();
    }

    /// <summary>Parses a cluster name made by <see cref="OutboundCluster"/> or <see cref="InboundCluster"/>
    /// (or by Istio); returns null for anything else.</summary>
    public static ClusterName? ParseCluster(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        var parts = name.Split(Separator);
        if (parts.Length != 4)
        {
            return null;
        }

        ClusterDirection direction;
        if (string.Equals(parts[0], OutboundPrefix, StringComparison.Ordinal))
        {
            direction = ClusterDirection.Outbound;
        }
        else if (string.Equals(parts[0], InboundPrefix, StringComparison.Ordinal))
        {
            direction = ClusterDirection.Inbound;
        }
        else
        {
            return null;
        }

        if (!TryParsePort(parts[1], out var port))
        {
            return null;
        }

        if (direction == ClusterDirection.Outbound && parts[3].Length == 0)
        {
            return null;
        }

        return new ClusterName(direction, port, parts[2], parts[3]);
    }

    /// <summary>Listener bound to the wildcard address: <c>0.0.0.0_9080</c>.</summary>
    public static string Listener(int port) => Listener(WildcardAddress, port);

    /// <summary>Listener bound to a specific address: <c>10.0.0.5_9080</c>.</summary>
    public static string Listener(string address, int port)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        CheckPort(port);
        return string.Create(CultureInfo.InvariantCulture, $"{address}_{port}");
    }

    /// <summary>Outbound HTTP route configuration for a port, named as Istio does: <c>9080</c>.</summary>
    public static string RouteConfig(int port)
    {
        CheckPort(port);
        return port.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Inbound HTTP route configuration for a port, named as Istio does: <c>inbound|9080||</c>.</summary>
    public static string InboundRouteConfig(int port) => InboundCluster(port);

    /// <summary>
    /// Listener name a proxyless gRPC client asks for when dialing <c>xds:///host:port</c>: exactly
    /// <c>host:port</c> (IPv6 literals in brackets).
    /// </summary>
    public static string ProxylessListener(string host, int port)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        CheckPort(port);
        var h = host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? $"[{host}]" : host;
        return string.Create(CultureInfo.InvariantCulture, $"{h}:{port}");
    }

    /// <summary>Splits a proxyless listener name (<c>host:port</c>) into its parts; null if it has no valid port.</summary>
    public static ProxylessTarget? ParseProxylessListener(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        var colon = name.LastIndexOf(':');
        if (colon <= 0 || !TryParsePort(name[(colon + 1)..], out var port))
        {
            return null;
        }

        var host = name[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            return null; // an IPv6 literal must be bracketed
        }

        return host.Length == 0 ? null : new ProxylessTarget(host, port);
    }

    private static bool TryParsePort(string text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= 65535;

    private static void CheckPort(int port)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
    }

    private static void CheckSegment(string? value, string paramName)
    {
        if (value is not null && value.Contains(Separator, StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{value}' must not contain '{Separator}'.", paramName);
        }
    }
}
