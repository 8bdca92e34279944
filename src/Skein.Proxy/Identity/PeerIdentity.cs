namespace Skein.Proxy.Identity;

/// <summary>
/// The authenticated identity of the peer of a connection: filled in by the TLS layer from the peer
/// certificate's URI SAN once mTLS is wired (for now only plaintext connections exist, so it is always null).
/// </summary>
/// <param name="SpiffeId">The peer's SPIFFE id, e.g. <c>spiffe://cluster.local/ns/default/sa/reviews</c>.</param>
/// <param name="SubjectAltNames">Every SAN of the peer certificate (DNS and URI), for RBAC principal matching.</param>
internal sealed record PeerIdentity(string SpiffeId, IReadOnlyList<string> SubjectAltNames)
{
    /// <summary>The principal as Envoy's RBAC sees it: the SPIFFE id without the <c>spiffe://</c> scheme.</summary>
    public string Principal => SpiffeId.StartsWith("spiffe://", StringComparison.Ordinal) ? SpiffeId["spiffe://".Length..] : SpiffeId;
}
