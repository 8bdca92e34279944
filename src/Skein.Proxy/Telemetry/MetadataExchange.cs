using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Http;

namespace Skein.Proxy.Telemetry;

/// <summary>
/// Istio's HTTP metadata exchange. The client-side proxy adds <c>x-envoy-peer-metadata</c> (base64 of a protobuf
/// <c>Struct</c>: <c>NAMESPACE</c>, <c>WORKLOAD_NAME</c>, <c>LABELS</c>, <c>CLUSTER_ID</c>, <c>NAME</c>) and
/// <c>x-envoy-peer-metadata-id</c> (its node id) to requests to mesh clusters; the server-side proxy reads and
/// removes them before the app sees the request, and answers with its own pair on the response, which the
/// client-side proxy reads and removes in turn. The wire format is Envoy's, so Skein and Istio sidecars interoperate.
/// </summary>
internal static class MetadataExchange
{
    public const string Header = "x-envoy-peer-metadata";
    public const string IdHeader = "x-envoy-peer-metadata-id";

    /// <summary>Parsed header values; bounded because the values come from the network.</summary>
    private const int MaxCached = 4096;

    private static readonly ConcurrentDictionary<string, WorkloadPeer> Parsed = new(StringComparer.Ordinal);

    /// <summary>Reads and removes the exchange headers; returns the peer, or null when absent or unreadable.</summary>
    public static WorkloadPeer? Take(IHeaderDictionary headers)
    {
        if (!headers.TryGetValue(Header, out var values))
        {
            headers.Remove(IdHeader);
            return null;
        }

        headers.Remove(Header);
        headers.Remove(IdHeader);
        return values.Count == 0 ? null : Parse(values[0]);
    }

    /// <summary>The peer an <c>x-envoy-peer-metadata</c> value describes (cached by value), or null if unreadable.</summary>
    public static WorkloadPeer? Parse(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (Parsed.TryGetValue(value, out var cached))
        {
            return cached;
        }

        var peer = Decode(value);
        if (peer is not null && Parsed.Count < MaxCached)
        {
            Parsed.TryAdd(value, peer);
        }

        return peer;
    }

    private static WorkloadPeer? Decode(string value)
    {
        Struct s;
        try
        {
            // Envoy decodes without requiring padding.
            var padded = (value.Length % 4) switch
            {
                2 => value + "==",
                3 => value + "=",
                _ => value,
            };
            s = Struct.Parser.ParseFrom(Convert.FromBase64String(padded));
        }
        catch (Exception e) when (e is FormatException or InvalidProtocolBufferException)
        {
            return null;
        }

        string? Text(string key) => s.Fields.TryGetValue(key, out var v) && v.KindCase == Value.KindOneofCase.StringValue ? v.StringValue : null;
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (s.Fields.TryGetValue("LABELS", out var l) && l.KindCase == Value.KindOneofCase.StructValue)
        {
            foreach (var (k, v) in l.StructValue.Fields)
            {
                if (v.KindCase == Value.KindOneofCase.StringValue)
                {
                    labels[k] = v.StringValue;
                }
            }
        }

        return PeerTable.FromLabels(Text("WORKLOAD_NAME"), Text("NAMESPACE"), labels, Text("CLUSTER_ID"), null);
    }
}
