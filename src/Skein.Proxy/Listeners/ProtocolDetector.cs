using System.Buffers;
using Skein.Proxy.Protocol;
using Skein.Proxy.Tls;

namespace Skein.Proxy.Listeners;

/// <summary>What the first bytes of a connection say (Envoy's tls_inspector and http_inspector).</summary>
internal readonly record struct Detection(DetectedProtocol Protocol, string? ServerName, IReadOnlyList<string> Alpn);

/// <summary>Classifies the first bytes of a connection: TLS ClientHello, HTTP/1.x request line, HTTP/2 preface, or opaque.</summary>
internal static class ProtocolDetector
{
    private static readonly byte[] Http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    private static readonly byte[][] Methods =
    [
        "GET "u8.ToArray(), "POST "u8.ToArray(), "PUT "u8.ToArray(), "DELETE "u8.ToArray(), "HEAD "u8.ToArray(),
        "OPTIONS "u8.ToArray(), "PATCH "u8.ToArray(), "TRACE "u8.ToArray(), "CONNECT "u8.ToArray(),
    ];

    /// <summary>Returns the protocol, or null when more bytes are needed to decide.</summary>
    public static Detection? Detect(ReadOnlySequence<byte> data)
    {
        if (data.IsEmpty)
        {
            return null;
        }

        switch (ClientHelloParser.TryParse(data, out var sni, out var alpn))
        {
            case ClientHelloResult.Parsed:
                return new Detection(DetectedProtocol.Tls, sni, alpn);
            case ClientHelloResult.NeedMoreData:
                return null;
        }

        Span<byte> head = stackalloc byte[24];
        var n = (int)Math.Min(data.Length, head.Length);
        data.Slice(0, n).CopyTo(head);
        head = head[..n];

        var preface = Http2Preface.AsSpan(0, Math.Min(n, Http2Preface.Length));
        if (head.SequenceEqual(preface))
        {
            return n >= Http2Preface.Length ? new Detection(DetectedProtocol.Http2, null, ["h2c"]) : null;
        }

        var couldBeMethod = false;
        foreach (var m in Methods)
        {
            var len = Math.Min(n, m.Length);
            if (head[..len].SequenceEqual(m.AsSpan(0, len)))
            {
                if (n >= m.Length)
                {
                    return new Detection(DetectedProtocol.Http1, null, ["http/1.1"]);
                }

                couldBeMethod = true;
            }
        }

        return couldBeMethod ? null : new Detection(DetectedProtocol.Opaque, null, []);
    }
}
