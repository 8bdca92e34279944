using System.Globalization;
using System.Text.Json;
using Skein.Api.Analysis;
using Skein.Api.Loading;
using Skein.Api.Validation;

namespace Skein.Cli.Commands;

/// <summary>How a check came out; the worst status decides the exit code.</summary>
internal enum CheckStatus
{
    Ok,
    Warning,
    Error,
}

/// <summary>One finding of <c>skein check</c>: which check, about what, how it came out and why.</summary>
internal sealed record CheckResult(string Check, string Subject, CheckStatus Status, string Message);

/// <summary>
/// The health checks of <c>skein check</c>, run against skein-control's API: the CA and its roots
/// (<c>GET /api/v1/ca</c>), every proxy's certificate (<c>certificate</c> in <c>GET /api/v1/proxies</c>, else
/// <c>GET /api/v1/ca/certificates</c>), the trust bundle each proxy holds, the clock skew to skein-control (its
/// <c>Date</c> header) and what <c>skein analyze</c> finds in the applied config (<c>GET /api/v1/config</c>).
/// </summary>
internal sealed class MeshChecks(HttpClient http, TimeProvider time)
{
    /// <summary>Roots and CA certificates closer than this to expiry are a warning (Istio warns at 60 days too).</summary>
    public static readonly TimeSpan RootWarning = TimeSpan.FromDays(60);

    /// <summary>Clock skew above this is a warning; above <see cref="SkewError"/> certificates may not be valid yet.</summary>
    public static readonly TimeSpan SkewWarning = TimeSpan.FromSeconds(5);

    /// <summary>Workload certificates are backdated by one minute; more skew than that breaks fresh certificates.</summary>
    public static readonly TimeSpan SkewError = TimeSpan.FromMinutes(1);

    private readonly List<CheckResult> _results = [];

    public async Task<IReadOnlyList<CheckResult>> RunAsync(CancellationToken cancel)
    {
        var now = time.GetUtcNow();
        var (ca, date) = await GetJsonAsync("/api/v1/ca", cancel).ConfigureAwait(false);
        ClockSkew(date, now);
        var roots = CheckCa(ca, now);
        var (proxies, _) = await GetJsonAsync("/api/v1/proxies", cancel).ConfigureAwait(false);
        JsonDocument? issued = null;
        if (proxies is not null && !HasInlineCertificates(proxies.RootElement))
        {
            (issued, _) = await GetJsonAsync("/api/v1/ca/certificates", cancel).ConfigureAwait(false);
        }

        CheckProxies(proxies, issued, roots, ca, now);
        await AnalyzeAsync(cancel).ConfigureAwait(false);
        ca?.Dispose();
        proxies?.Dispose();
        issued?.Dispose();
        return _results;
    }

    private void Add(string check, string subject, CheckStatus status, string message) => _results.Add(new CheckResult(check, subject, status, message));

    private void ClockSkew(DateTimeOffset? date, DateTimeOffset now)
    {
        if (date is not { } remote)
        {
            Add("clock", "skein-control", CheckStatus.Warning, "no Date header from skein-control; skew not measured");
            return;
        }

        var skew = remote - now;
        var abs = skew.Duration();
        var text = $"skein-control's clock is {FormatSpan(abs)} {(skew >= TimeSpan.Zero ? "ahead of" : "behind")} this machine's";
        Add("clock", "skein-control", abs > SkewError ? CheckStatus.Error : abs > SkewWarning ? CheckStatus.Warning : CheckStatus.Ok,
            abs <= SkewWarning ? $"in sync (skew {FormatSpan(abs)})" : abs > SkewError ? text + "; certificates may be refused as not yet valid or expired" : text);
    }

    /// <summary>Checks the roots and the signing certificate; returns the current roots' SHA-256 fingerprints.</summary>
    private HashSet<string> CheckCa(JsonDocument? ca, DateTimeOffset now)
    {
        var fingerprints = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (ca is null)
        {
            Add("ca", "skein-control", CheckStatus.Error, "no certificate authority (GET /api/v1/ca failed)");
            return fingerprints;
        }

        var root = ca.RootElement;
        var domain = Str(root, "trustDomain") ?? "?";
        if (!root.TryGetProperty("roots", out var roots) || roots.ValueKind != JsonValueKind.Array || roots.GetArrayLength() == 0)
        {
            Add("ca", domain, CheckStatus.Error, "the CA has no root certificate");
            return fingerprints;
        }

        foreach (var r in roots.EnumerateArray())
        {
            if (Str(r, "sha256") is { } sha)
            {
                fingerprints.Add(sha);
            }

            Validity("root", $"{Str(r, "subject") ?? "root"} ({Short(Str(r, "sha256"))})", Time(r, "notBefore"), Time(r, "notAfter"), now);
        }

        if (root.TryGetProperty("signer", out var signer) && signer.ValueKind == JsonValueKind.Object)
        {
            Validity("ca", $"{Str(signer, "subject") ?? "signer"} [{Str(root, "source") ?? "ca"}, trust domain {domain}]", Time(signer, "notBefore"), Time(signer, "notAfter"), now);
        }

        return fingerprints;
    }

    private void Validity(string check, string subject, DateTimeOffset? notBefore, DateTimeOffset? notAfter, DateTimeOffset now)
    {
        if (notAfter is not { } end)
        {
            Add(check, subject, CheckStatus.Error, "no validity period reported");
        }
        else if (end <= now)
        {
            Add(check, subject, CheckStatus.Error, $"expired {FormatSpan(now - end)} ago ({Format(end)})");
        }
        else if (notBefore is { } start && start > now)
        {
            Add(check, subject, CheckStatus.Error, $"not valid before {Format(start)}");
        }
        else if (end - now < RootWarning)
        {
            Add(check, subject, CheckStatus.Warning, $"expires in {FormatSpan(end - now)} ({Format(end)}); rotate it");
        }
        else
        {
            Add(check, subject, CheckStatus.Ok, $"valid until {Format(end)} ({FormatSpan(end - now)})");
        }
    }

    private static bool HasInlineCertificates(JsonElement proxies) =>
        proxies.TryGetProperty("proxies", out var list) && list.ValueKind == JsonValueKind.Array
        && list.EnumerateArray().Any(p => p.TryGetProperty("certificate", out _));

    private void CheckProxies(JsonDocument? proxies, JsonDocument? issued, HashSet<string> roots, JsonDocument? ca, DateTimeOffset now)
    {
        if (proxies is null || !proxies.RootElement.TryGetProperty("proxies", out var list) || list.ValueKind != JsonValueKind.Array)
        {
            Add("proxies", "skein-control", CheckStatus.Error, "the proxy list is unavailable (GET /api/v1/proxies failed)");
            return;
        }

        var byNode = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (issued?.RootElement.TryGetProperty("certificates", out var certs) == true && certs.ValueKind == JsonValueKind.Array)
        {
            foreach (var c in certs.EnumerateArray())
            {
                if (Str(c, "nodeId") is { } node)
                {
                    byNode[node] = c;
                }
            }
        }

        var ttl = ca?.RootElement.TryGetProperty("workloadCertTtlSeconds", out var t) == true && t.TryGetInt64(out var seconds) ? TimeSpan.FromSeconds(seconds) : (TimeSpan?)null;
        var connected = 0;
        foreach (var proxy in list.EnumerateArray())
        {
            if (!(proxy.TryGetProperty("connected", out var c) && c.ValueKind == JsonValueKind.True) || Str(proxy, "mode") == "proxyless")
            {
                continue;
            }

            connected++;
            var id = Str(proxy, "id") ?? "?";
            var name = Str(proxy, "instance") is { Length: > 0 } instance ? instance : id;
            var cert = proxy.TryGetProperty("certificate", out var inline) && inline.ValueKind == JsonValueKind.Object ? inline
                : byNode.TryGetValue(id, out var fromCa) ? fromCa : (JsonElement?)null;
            CheckProxyCertificate(name, cert, ttl, now);
            CheckTrustBundle(name, proxy, roots);
        }

        if (connected == 0)
        {
            Add("proxies", "skein-control", CheckStatus.Ok, "no sidecar is connected");
        }
    }

    private void CheckProxyCertificate(string name, JsonElement? cert, TimeSpan? ttl, DateTimeOffset now)
    {
        if (cert is not { } c)
        {
            Add("certificate", name, CheckStatus.Warning, "no workload certificate issued (plaintext only; is mTLS on?)");
            return;
        }

        var identity = Str(c, "identity") ?? "?";
        if (Time(c, "notAfter") is not { } end)
        {
            Add("certificate", name, CheckStatus.Error, $"{identity}: no expiry reported");
        }
        else if (end <= now)
        {
            Add("certificate", name, CheckStatus.Error, $"{identity}: expired {FormatSpan(now - end)} ago; renewal is failing");
        }
        else if (ttl is { } lifetime && end - now < lifetime / 4)
        {
            // Renewal happens at half the lifetime: a quarter left means it is overdue.
            Add("certificate", name, CheckStatus.Warning, $"{identity}: expires in {FormatSpan(end - now)}, renewal is overdue");
        }
        else
        {
            Add("certificate", name, CheckStatus.Ok, $"{identity}: valid for {FormatSpan(end - now)}");
        }
    }

    /// <summary>
    /// The proxy holds the current roots when it reports their fingerprints (<c>rootsSha256</c>) or has
    /// acknowledged the latest <c>ROOTCA</c> secret (<c>types.secrets.synced</c>).
    /// </summary>
    private void CheckTrustBundle(string name, JsonElement proxy, HashSet<string> roots)
    {
        if (proxy.TryGetProperty("rootsSha256", out var held) && held.ValueKind == JsonValueKind.Array)
        {
            var have = held.EnumerateArray().Select(e => e.GetString() ?? "").ToHashSet(StringComparer.OrdinalIgnoreCase);
            var missing = roots.Where(r => !have.Contains(r)).ToList();
            Add("trust-bundle", name, missing.Count == 0 ? CheckStatus.Ok : CheckStatus.Error,
                missing.Count == 0 ? "holds the current root(s)" : $"lacks root {string.Join(", ", missing.Select(Short))}; calls from workloads with new certificates will fail");
            return;
        }

        if (proxy.TryGetProperty("types", out var types) && types.TryGetProperty("secrets", out var secrets) && secrets.ValueKind == JsonValueKind.Object)
        {
            var synced = secrets.TryGetProperty("synced", out var s) && s.ValueKind == JsonValueKind.True;
            Add("trust-bundle", name, synced ? CheckStatus.Ok : CheckStatus.Error,
                synced ? "acknowledged the current trust bundle" : "has not acknowledged the current trust bundle (ROOTCA)");
            return;
        }

        Add("trust-bundle", name, CheckStatus.Warning, "skein-control does not report which roots this proxy holds");
    }

    private async Task AnalyzeAsync(CancellationToken cancel)
    {
        string yaml;
        try
        {
            using var response = await http.GetAsync("/api/v1/config", cancel).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                Add("config", "skein-control", CheckStatus.Error, $"GET /api/v1/config: {(int)response.StatusCode}");
                return;
            }

            yaml = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            Add("config", "skein-control", CheckStatus.Error, $"GET /api/v1/config: {e.Message}");
            return;
        }

        var report = ConfigAnalyzer.Analyze(ConfigLoader.LoadText(yaml, "applied-config.yaml"));
        foreach (var d in report.Diagnostics)
        {
            var status = d.Severity == Severity.Error ? CheckStatus.Error : d.Severity == Severity.Warning ? CheckStatus.Warning : CheckStatus.Ok;
            Add("config", d.Resource ?? d.Code, status, $"{d.Code} {d.Path}: {d.Message}");
        }

        if (report.Diagnostics.Count == 0)
        {
            Add("config", "applied config", CheckStatus.Ok, "skein analyze finds nothing");
        }
    }

    private async Task<(JsonDocument? Doc, DateTimeOffset? Date)> GetJsonAsync(string path, CancellationToken cancel)
    {
        try
        {
            using var response = await http.GetAsync(path, cancel).ConfigureAwait(false);
            var date = response.Headers.Date;
            if (!response.IsSuccessStatusCode)
            {
                return (null, date);
            }

            var body = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
            try
            {
                return (JsonDocument.Parse(body), date);
            }
            catch (JsonException)
            {
                return (null, date);
            }
        }
        catch (HttpRequestException)
        {
            return (null, null);
        }
    }

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static DateTimeOffset? Time(JsonElement e, string name) =>
        Str(e, name) is { } s && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : null;

    private static string Short(string? sha) => sha is { Length: > 12 } ? sha[..12] : sha ?? "?";

    private static string Format(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    internal static string FormatSpan(TimeSpan span) => span switch
    {
        { TotalDays: >= 2 } => $"{(int)span.TotalDays} days",
        { TotalHours: >= 2 } => $"{(int)span.TotalHours} h",
        { TotalMinutes: >= 2 } => $"{(int)span.TotalMinutes} min",
        _ => $"{(int)span.TotalSeconds} s",
    };
}
