using System.Net;
using Skein.Proxy.Identity;

namespace Skein.Proxy.Protocol;

/// <summary>Which port of the proxy a connection arrived on.</summary>
internal enum ListenerRole
{
    Outbound,
    Inbound,
    Admin,
    Stats,
    Health,
}

/// <summary>What protocol detection found on the first bytes of a connection.</summary>
internal enum DetectedProtocol
{
    Unknown,
    Http1,
    Http2,
    Tls,
    Opaque,
}

/// <summary>
/// What is known about a downstream connection: set once by the connection middleware (as a connection
/// feature) and read by every request on it.
/// </summary>
internal sealed class DownstreamConnection
{
    private long _bytesReceived;
    private long _bytesSent;

    public required string ConnectionId { get; init; }

    public required ListenerRole Role { get; init; }

    public IPEndPoint? RemoteEndPoint { get; init; }

    public IPEndPoint? LocalEndPoint { get; init; }

    /// <summary>The destination before iptables redirection (transparent mode), or null.</summary>
    public IPEndPoint? OriginalDestination { get; set; }

    public DetectedProtocol Protocol { get; set; }

    /// <summary>Envoy's transport protocol name: <c>raw_buffer</c> or <c>tls</c>.</summary>
    public string TransportProtocol { get; set; } = "raw_buffer";

    /// <summary>SNI from the TLS ClientHello, or null.</summary>
    public string? ServerName { get; set; }

    /// <summary>Application protocols: ALPN from the ClientHello, or <c>http/1.1</c> / <c>h2c</c> for detected plaintext HTTP.</summary>
    public IReadOnlyList<string> ApplicationProtocols { get; set; } = [];

    /// <summary>The authenticated peer (mTLS), or null.</summary>
    public PeerIdentity? Peer { get; set; }

    public long BytesReceived => Volatile.Read(ref _bytesReceived);

    public long BytesSent => Volatile.Read(ref _bytesSent);

    public void AddReceived(long n) => Interlocked.Add(ref _bytesReceived, n);

    public void AddSent(long n) => Interlocked.Add(ref _bytesSent, n);
}
