using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Skein.Identity;
using Skein.Proxy.Runtime;

namespace Skein.Proxy.Certificates;

/// <summary>Where the proxy gets its certificate (all three flags together).</summary>
/// <param name="Lifetime">Lifetime to ask for; null lets the CA choose (24 h by default).</param>
internal sealed record CertificateOptions(Uri CaAddress, string CaRootFile, string TokenFile, TimeSpan? Lifetime, string? NodeId);

/// <summary>
/// The proxy's certificate lifecycle, as Istio's agent runs it: a fresh ECDSA P-256 key in memory and a CSR at
/// start; renewal at half the lifetime (±5 % jitter, so a fleet does not renew at once) with a new key each time;
/// failures retried with exponential backoff (1 s up to 60 s, jittered). Each certificate is published whole
/// (<see cref="WorkloadSecrets.Publish"/>): open connections keep theirs, new handshakes use the new one.
/// Logs name the identity, serial and expiry; never the key or the token.
/// </summary>
internal sealed partial class CertificateManager : IAsyncDisposable
{
    private static readonly TimeSpan MinDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(60);
    private readonly CertificateOptions _options;
    private readonly WorkloadSecrets _secrets;
    private readonly IRandomSource _random;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly CaClient _client;
    private Task? _loop;
    private long _renewals;
    private long _failures;

    public CertificateManager(CertificateOptions options, WorkloadSecrets secrets, IRandomSource random, TimeProvider time, ILogger<CertificateManager> logger)
    {
        _options = options;
        _secrets = secrets;
        _random = random;
        _time = time;
        _logger = logger;
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(options.CaRootFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ArgumentException($"--ca-root: cannot read {options.CaRootFile}: {e.Message}");
        }

        if (roots.Count == 0)
        {
            throw new ArgumentException($"--ca-root: {options.CaRootFile} holds no certificate");
        }

        _client = new CaClient(options.CaAddress, roots, options.TokenFile, options.NodeId);
    }

    /// <summary>Certificates obtained so far (the first one included).</summary>
    public long Renewals => Interlocked.Read(ref _renewals);

    /// <summary>Failed requests so far.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    public void Start() => _loop ??= Task.Run(() => RunAsync(_stop.Token));

    /// <summary>
    /// When to renew a certificate: at 50 % of its lifetime ±5 %, counted from when it arrived (the CA back-dates
    /// NotBefore a little for clock skew), never sooner than a second from now.
    /// </summary>
    public static TimeSpan RenewalDelay(WorkloadIdentity identity, double jitter, DateTimeOffset now)
    {
        var start = identity.ReceivedAt > identity.NotBefore ? identity.ReceivedAt : identity.NotBefore;
        var lifetime = identity.NotAfter - start;
        var at = start + (lifetime * (0.5 + ((jitter - 0.5) * 0.1)));
        var delay = at - now;
        return delay < MinDelay ? MinDelay : delay;
    }

    /// <summary>Backoff after <paramref name="failures"/> failed attempts: 1, 2, 4 ... 60 s, times 0.8-1.2.</summary>
    public static TimeSpan Backoff(long failures, double jitter)
    {
        var seconds = Math.Min(MaxBackoff.TotalSeconds, Math.Pow(2, Math.Min(failures - 1, 16)));
        return TimeSpan.FromSeconds(seconds * (0.8 + (0.4 * jitter)));
    }

    /// <summary>One CSR round: key, request, answer checked and turned into a <see cref="WorkloadIdentity"/>.</summary>
    public async Task<WorkloadIdentity> RequestAsync(CancellationToken cancellation)
    {
        using var key = WorkloadCertificates.CreateKey();
        var csr = CreateCsr(key);
        var pems = await _client.CreateCertificateAsync(csr, _options.Lifetime, cancellation).ConfigureAwait(false);
        X509Certificate2 leaf;
        X509Certificate2Collection intermediates;
        X509Certificate2Collection roots;
        try
        {
            (leaf, intermediates, roots) = WorkloadCertificates.SplitChain(pems);
        }
        catch (CryptographicException e)
        {
            throw new CertificateRequestException($"the CA answered no usable certificate: {e.Message}");
        }

        using (leaf)
        {
            if (!leaf.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
            {
                throw new CertificateRequestException("the CA answered a certificate for another key");
            }

            if (roots.Count == 0)
            {
                roots.ImportFromPemFile(_options.CaRootFile);
            }

            var trust = new TrustBundle([.. roots], _time);
            if (trust.Verify(leaf, intermediates, out var reason) is null)
            {
                throw new CertificateRequestException($"the CA answered a certificate that does not verify: {reason}");
            }

            var pem = leaf.ExportCertificatePem();
            return new WorkloadIdentity(WorkloadCertificates.WithKey(pem, key), intermediates, trust, _time.GetUtcNow());
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        _client.Dispose();
        _stop.Dispose();
    }

    private static string CreateCsr(ECDsa key)
    {
        // No SAN: the CA writes the identity the token proves (and refuses a CSR that asks for another).
        var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        return request.CreateSigningRequestPem();
    }

    private async Task RunAsync(CancellationToken stop)
    {
        long failures = 0;
        while (!stop.IsCancellationRequested)
        {
            TimeSpan delay;
            try
            {
                var identity = await RequestAsync(stop).ConfigureAwait(false);
                _secrets.Publish(identity);
                Interlocked.Increment(ref _renewals);
                failures = 0;
                delay = RenewalDelay(identity, _random.NextDouble(), _time.GetUtcNow());
                var name = identity.Id?.ToString() ?? "(no SPIFFE id)";
                Log.Issued(_logger, name, identity.Serial, identity.NotAfter, delay);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Whatever went wrong (CA down, refused, bad answer), the loop must survive and try again.
                failures++;
                Interlocked.Increment(ref _failures);
                delay = Backoff(failures, _random.NextDouble());
                if (_secrets.Current is { } held && held.NotAfter - _time.GetUtcNow() < delay)
                {
                    delay = MinDelay; // the held certificate expires before the next try: keep trying
                }

                Log.Failed(_logger, _options.CaAddress, e.Message, failures, delay);
            }

            await Task.Delay(delay, _time, stop).ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 60, Level = LogLevel.Information, Message = "Certificate for {Identity} issued: serial {Serial}, valid until {NotAfter:u}; renewing in {Delay}")]
        public static partial void Issued(ILogger logger, string identity, string serial, DateTimeOffset notAfter, TimeSpan delay);

        [LoggerMessage(EventId = 61, Level = LogLevel.Warning, Message = "Certificate request to {Ca} failed ({Failures} in a row): {Reason}; retrying in {Delay}")]
        public static partial void Failed(ILogger logger, Uri ca, string reason, long failures, TimeSpan delay);
    }
}
