using System.Collections.Immutable;
using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Type.V3;
using ApiDuration = Skein.Api.Model.Duration;
using ProtoDuration = Google.Protobuf.WellKnownTypes.Duration;

namespace Skein.ControlPlane.Translation;

/// <summary>Filter and extension names as Istio writes them; <c>typed_per_filter_config</c> is keyed by these.</summary>
internal static class FilterNames
{
    public const string HttpConnectionManager = "envoy.filters.network.http_connection_manager";
    public const string TcpProxy = "envoy.filters.network.tcp_proxy";
    public const string Fault = "envoy.filters.http.fault";
    public const string LocalRateLimit = "envoy.filters.http.local_ratelimit";
    public const string Router = "envoy.filters.http.router";
    public const string OriginalDst = "envoy.filters.listener.original_dst";
    public const string TlsInspector = "envoy.filters.listener.tls_inspector";
    public const string TlsTransportSocket = "envoy.transport_sockets.tls";
    public const string PreviousHosts = "envoy.retry_host_predicates.previous_hosts";
}

/// <summary>Cluster and secret names that are not derived from services.</summary>
internal static class WellKnownNames
{
    /// <summary>Outbound traffic to destinations the mesh does not know (ORIGINAL_DST; Istio's ALLOW_ANY).</summary>
    public const string PassthroughCluster = "PassthroughCluster";

    /// <summary>Inbound traffic to ports the app did not declare.</summary>
    public const string InboundPassthroughCluster = "InboundPassthroughCluster";

    /// <summary>SDS secret with the workload's certificate and key (filled by the proxy itself).</summary>
    public const string DefaultSecret = "default";

    /// <summary>SDS secret with the mesh's trust bundle.</summary>
    public const string RootCaSecret = "ROOTCA";

    public const string AllowAnyVirtualHost = "allow_any";

    /// <summary>Port of the listener that captures outbound traffic.</summary>
    public const int OutboundCapturePort = 15001;

    /// <summary>Port of the listener that captures inbound traffic.</summary>
    public const int InboundCapturePort = 15006;

    /// <summary>Istio's default connect timeout.</summary>
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(10);
}

/// <summary>Small constructors for xDS values, so generators read like the config they produce.</summary>
internal static class XdsBuild
{
    public static ProtoDuration Duration(TimeSpan value) => ProtoDuration.FromTimeSpan(value);

    public static ProtoDuration Duration(ApiDuration value) => ProtoDuration.FromTimeSpan(value.Value);

    public static ProtoDuration Zero => new();

    /// <summary>A config source that says "over this same ADS stream".</summary>
    public static ConfigSource Ads() => new() { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 };

    public static Address SocketAddress(string address, int port) =>
        new() { SocketAddress = new SocketAddress { Address = address, PortValue = (uint)port } };

    /// <summary>Istio's translation of a Percent: value × 10⁴ per million.</summary>
    public static FractionalPercent Fraction(double percent) =>
        new() { Numerator = (uint)Math.Round(percent * 10000), Denominator = FractionalPercent.Types.DenominatorType.Million };

    /// <summary>A whole percentage, per hundred.</summary>
    public static FractionalPercent FractionHundred(int percent) =>
        new() { Numerator = (uint)percent, Denominator = FractionalPercent.Types.DenominatorType.Hundred };

    public static Struct Struct(IEnumerable<KeyValuePair<string, string>> fields)
    {
        var s = new Struct();
        foreach (var (k, v) in fields)
        {
            s.Fields[k] = Value.ForString(v);
        }

        return s;
    }

    public static Metadata Metadata(string filter, IEnumerable<KeyValuePair<string, string>> fields)
    {
        var m = new Metadata();
        m.FilterMetadata[filter] = Struct(fields);
        return m;
    }

    public static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Splits weights summing to <paramref name="total"/> from arbitrary ones, largest remainder first (ties by position).</summary>
    public static ImmutableArray<uint> Normalize(IReadOnlyList<long> weights, int total = 100)
    {
        long sum = 0;
        foreach (var w in weights)
        {
            sum += w;
        }

        if (sum == total || sum <= 0)
        {
            return [.. weights.Select(w => (uint)Math.Max(w, 0))];
        }

        var result = new uint[weights.Count];
        var remainders = new (long Remainder, int Index)[weights.Count];
        long assigned = 0;
        for (var i = 0; i < weights.Count; i++)
        {
            var scaled = weights[i] * total;
            result[i] = (uint)(scaled / sum);
            assigned += result[i];
            remainders[i] = (scaled % sum, i);
        }

        Array.Sort(remainders, (a, b) => a.Remainder != b.Remainder ? b.Remainder.CompareTo(a.Remainder) : a.Index.CompareTo(b.Index));
        for (var i = 0; assigned < total; i++, assigned++)
        {
            result[remainders[i % remainders.Length].Index]++;
        }

        return [.. result];
    }
}
