using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Skein.Identity;

namespace Skein.Proxy.Certificates;

/// <summary>
/// The proxy's own identity as TLS uses it: the SVID with its key (made here, never sent anywhere), the
/// intermediates up to the root, and the trust bundle. Immutable: a renewal publishes a new one.
/// </summary>
internal sealed class WorkloadIdentity
{
    public WorkloadIdentity(X509Certificate2 certificate, X509Certificate2Collection intermediates, TrustBundle trust, DateTimeOffset receivedAt)
    {
        Certificate = certificate;
        Intermediates = intermediates;
        Trust = trust;
        ReceivedAt = receivedAt;
        Id = SpiffeId.TryFromCertificate(certificate, out var id) ? id : null;
        NotBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero);
        NotAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        // offline: the chain is built from what we hold, never fetched (AIA) from the network.
        Context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
    }

    public X509Certificate2 Certificate { get; }

    public X509Certificate2Collection Intermediates { get; }

    public TrustBundle Trust { get; }

    public SpiffeId? Id { get; }

    public DateTimeOffset NotBefore { get; }

    public DateTimeOffset NotAfter { get; }

    /// <summary>When the proxy got it (the CA back-dates NotBefore for clock skew; renewal counts from here).</summary>
    public DateTimeOffset ReceivedAt { get; }

    public SslStreamCertificateContext Context { get; }

    public string Serial => Certificate.SerialNumber;
}

/// <summary>
/// Holds the current <see cref="WorkloadIdentity"/> (Istio's SDS secrets <c>default</c> and <c>ROOTCA</c>), swapped
/// with one volatile write: handshakes started before a renewal finish with the old certificate, new ones use the new.
/// </summary>
internal sealed class WorkloadSecrets
{
    /// <summary>SDS name of the workload certificate and key.</summary>
    public const string DefaultSecret = "default";

    /// <summary>SDS name of the trust bundle.</summary>
    public const string RootSecret = "ROOTCA";

    private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WorkloadIdentity? _current;

    /// <summary>True when certificates come from a CA: readiness then waits for the first one.</summary>
    public bool Required { get; init; }

    public WorkloadIdentity? Current => Volatile.Read(ref _current);

    public Task FirstIssued => _first.Task;

    public bool IsReady => !Required || Current is not null;

    public void Publish(WorkloadIdentity identity)
    {
        Volatile.Write(ref _current, identity);
        _first.TrySetResult();
    }
}
