using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Skein.Identity;

namespace Skein.ControlPlane.Security;

/// <summary>One certificate the CA signed, kept for <c>/api/v1/proxies</c> and <c>skein check</c> (no key, no token).</summary>
internal sealed record IssuedRecord(string Identity, string? NodeId, string Serial, DateTimeOffset NotBefore, DateTimeOffset NotAfter, DateTimeOffset IssuedAt);

/// <summary>
/// skein-control's certificate authority: the signing CA (self-signed in the data directory or plug-in files),
/// the bootstrap-token key, the serving certificate of the TLS port, and a record of what was issued.
/// </summary>
internal sealed partial class MeshCa : IDisposable
{
    /// <summary>The control plane's own identity, in Istio's root namespace (istiod's place).</summary>
    public const string ControlPlaneNamespace = "istio-system";

    public const string ControlPlaneServiceAccount = "skein-control";

    private const string TokenKeyFile = "bootstrap-token.key";
    private readonly ConcurrentDictionary<string, IssuedRecord> _issued = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _servingLock = new();
    private readonly string[] _servingDns;
    private readonly IPAddress[] _servingAddresses;
    private X509Certificate2? _serving;
    private X509Certificate2Collection _servingChain = [];

    private MeshCa(CertificateAuthority authority, BootstrapTokens tokens, string source, ControlPlaneOptions options, TimeProvider time, ILogger logger)
    {
        Authority = authority;
        Tokens = tokens;
        Source = source;
        TrustDomain = options.TrustDomain;
        DefaultTtl = options.WorkloadCertTtl;
        MaxTtl = options.MaxWorkloadCertTtl;
        _time = time;
        _logger = logger;
        _servingDns = ["localhost", "skein-control", $"skein-control.{ControlPlaneNamespace}.svc", $"istiod.{ControlPlaneNamespace}.svc"];
        var addresses = new List<IPAddress> { IPAddress.Loopback, IPAddress.IPv6Loopback };
        if (IPAddress.TryParse(options.XdsAddress, out var bound) && !bound.Equals(IPAddress.Any) && !bound.Equals(IPAddress.IPv6Any))
        {
            addresses.Add(bound);
        }

        _servingAddresses = [.. addresses.Distinct()];
    }

    public CertificateAuthority Authority { get; }

    public BootstrapTokens Tokens { get; }

    /// <summary>Where the CA came from: <c>self-signed (DIR)</c>, <c>plug-in (FILE)</c> or <c>in memory</c>.</summary>
    public string Source { get; }

    public string TrustDomain { get; }

    public TimeSpan DefaultTtl { get; }

    public TimeSpan MaxTtl { get; }

    public SpiffeId ControlPlaneIdentity => new(TrustDomain, ControlPlaneNamespace, ControlPlaneServiceAccount);

    /// <summary>
    /// The CA as the options say: plug-in files, else <c>DATA_DIR/ca</c> (created on first start), else a CA that
    /// lives only as long as the process (no data directory, as in tests).
    /// </summary>
    public static MeshCa Create(ControlPlaneOptions options, TimeProvider time, ILogger logger)
    {
        CertificateAuthority authority;
        string source;
        if (options.CaCertsDir is { } dir)
        {
            authority = CertificateAuthority.LoadDirectory(dir, time);
            source = $"plug-in ({dir})";
        }
        else if (options.CaCertFile is { } cert)
        {
            authority = CertificateAuthority.LoadFiles(cert, options.CaKeyFile!, options.CaChainFile, options.RootCertFile!, time);
            source = $"plug-in ({cert})";
        }
        else if (options.DataDir is { } data)
        {
            var caDir = Path.Combine(data, "ca");
            authority = CertificateAuthority.LoadOrCreate(caDir, options.TrustDomain, time);
            source = $"self-signed ({caDir})";
        }
        else
        {
            authority = CertificateAuthority.CreateSelfSigned(options.TrustDomain, TimeSpan.FromDays(3650), time);
            source = "in memory (no --data-dir)";
        }

        var tokens = new BootstrapTokens(LoadOrCreateTokenKey(options.DataDir), time);
        var ca = new MeshCa(authority, tokens, source, options, time, logger);
        Log.Loaded(logger, source, options.TrustDomain, ca.Authority.NotAfter, ca.Authority.Roots.Count);
        return ca;
    }

    /// <summary>
    /// The serving certificate of the TLS port, reissued once past half its life; Kestrel asks on every handshake.
    /// </summary>
    public X509Certificate2 ServingCertificate()
    {
        var current = Volatile.Read(ref _serving);
        var now = _time.GetUtcNow();
        if (current is not null && now < current.NotBefore.ToUniversalTime() + ((current.NotAfter - current.NotBefore) / 2))
        {
            return current;
        }

        lock (_servingLock)
        {
            if (_serving is not null && now < _serving.NotBefore.ToUniversalTime() + ((_serving.NotAfter - _serving.NotBefore) / 2))
            {
                return _serving;
            }

            var (cert, chain) = Authority.IssueServing(ControlPlaneIdentity, _servingDns, _servingAddresses, TimeSpan.FromDays(1));
            _servingChain = chain;
            Volatile.Write(ref _serving, cert); // the previous certificate may still be in a handshake: left to the GC
            return cert;
        }
    }

    public X509Certificate2Collection ServingChain
    {
        get
        {
            _ = ServingCertificate();
            return _servingChain;
        }
    }

    /// <summary>Signs a CSR for a caller whose token proved <paramref name="identity"/>.</summary>
    public IssuedCertificate Sign(string csrPem, SpiffeId identity, TimeSpan? requested, string? nodeId)
    {
        if (identity.TrustDomain != TrustDomain)
        {
            throw new SigningRefusedException($"identity {identity} is outside trust domain {TrustDomain}");
        }

        var ttl = requested is { } r && r > TimeSpan.Zero ? (r < MaxTtl ? r : MaxTtl) : DefaultTtl;
        var issued = Authority.Sign(csrPem, identity, ttl);
        using var leaf = X509Certificate2.CreateFromPem(issued.LeafPem);
        var record = new IssuedRecord(identity.ToString(), nodeId, leaf.SerialNumber, issued.NotBefore, issued.NotAfter, _time.GetUtcNow());
        _issued[nodeId ?? identity.ToString()] = record;
        Log.Issued(_logger, identity.ToString(), nodeId ?? "-", leaf.SerialNumber, issued.NotAfter);
        return issued;
    }

    /// <summary>The latest certificate issued per proxy (by node id, else identity).</summary>
    public IReadOnlyCollection<IssuedRecord> Issued => [.. _issued.Values];

    public IssuedRecord? IssuedTo(string nodeId) => _issued.GetValueOrDefault(nodeId);

    public void Dispose()
    {
        Authority.Dispose();
        _serving?.Dispose();
    }

    /// <summary>The HMAC key of bootstrap tokens: kept 0600 in the data directory so tokens survive a restart.</summary>
    private static byte[] LoadOrCreateTokenKey(string? dataDir)
    {
        if (dataDir is null)
        {
            return BootstrapTokens.NewKey();
        }

        var dir = Path.Combine(dataDir, "ca");
        var path = Path.Combine(dir, TokenKeyFile);
        if (File.Exists(path))
        {
            var existing = Convert.FromBase64String(File.ReadAllText(path).Trim());
            if (existing.Length >= 32)
            {
                return existing;
            }
        }

        Directory.CreateDirectory(dir);
        var key = BootstrapTokens.NewKey();
        using (var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(Convert.ToBase64String(key));
        }

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return key;
    }

    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Information, "certificate authority: {Source}, trust domain {TrustDomain}, usable until {NotAfter:u}, {Roots} root(s)")]
        public static partial void Loaded(ILogger logger, string source, string trustDomain, DateTimeOffset notAfter, int roots);

        [LoggerMessage(21, LogLevel.Information, "issued {Identity} to {NodeId}: serial {Serial}, valid until {NotAfter:u}")]
        public static partial void Issued(ILogger logger, string identity, string nodeId, string serial, DateTimeOffset notAfter);
    }
}
