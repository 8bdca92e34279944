using System.Globalization;
using System.Text.RegularExpressions;

namespace Skein.EndToEnd.Tests;

/// <summary>
/// Issue 5's acceptance on the real netns runtime: each traffic feature applied with `skein apply`
/// and measured from the client pod, whose calls go through its own sidecar to the bookstore's.
/// Every test puts the mesh back as it found it (config deleted or restored, instances healed).
/// </summary>
[Collection("mesh")]
public sealed partial class TrafficTests(MeshFixture mesh) : IDisposable
{
    private const string ReviewsSubsets = """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:
          host: reviews
        {0}
          subsets:
            - name: v1
              labels:
                version: v1
            - name: v2
              labels:
                version: v2
            - name: v3
              labels:
                version: v3
        """;

    private readonly List<string> _files = [];

    public void Dispose()
    {
        foreach (var file in _files)
        {
            File.Delete(file);
        }
    }

    [MeshFact]
    public void HeaderRouting_EndUserJason_AlwaysV2AndEveryoneElseV1()
    {
        using var _ = Applied("samples/mesh/header-routing/reviews-jason.yaml");

        var jason = Versions(mesh.Exec("curl -s -H 'end-user: jason' -w '%{http_code} %header{x-served-by}\\n' -o /dev/null 'http://reviews:9080/reviews/1?n=[1-300]'", 300).Stdout);
        var others = Versions(mesh.Exec("curl -s -H 'end-user: alice' -w '%{http_code} %header{x-served-by}\\n' -o /dev/null 'http://reviews:9080/reviews/1?n=[1-300]'", 300).Stdout);

        Assert.Equal(new Dictionary<string, int> { ["200 v2"] = 300 }, jason);
        Assert.Equal(new Dictionary<string, int> { ["200 v1"] = 300 }, others);
    }

    [MeshFact]
    public void FaultDelay_HalfOfCallsDelayed2s_ShareWithin5PointsAndOnlyThoseSlow()
    {
        using var _ = Applied(Yaml("delay", ReviewsV1With("fault: {delay: {fixedDelay: 2s, percentage: {value: 50}}}")));

        // 1000 calls, 50 at a time: the delayed half costs 20 s of wall time, not 1000.
        var id = "delay-" + Guid.NewGuid().ToString("N")[..8];
        var seconds = mesh.Exec($"curl -s -Z --parallel-immediate --parallel-max 50 -H 'x-request-id: {id}' -o /dev/null -w '%{{http_code}} %{{time_total}}\\n' 'http://reviews:9080/reviews/1?n=[1-1000]'", 300)
            .Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' '))
            .Select(t => t[0] == "200" ? double.Parse(t[1], CultureInfo.InvariantCulture) : throw new InvalidOperationException($"call failed: {string.Join(' ', t)}"))
            .OrderDescending()
            .ToList();
        // The client's sidecar marks each delayed call with flag DI in its access log.
        var delayed = mesh.ProxyLog("client-0").Split('\n').Count(l => l.Contains(id, StringComparison.Ordinal) && l.Contains("\"response_flags\":\"DI\"", StringComparison.Ordinal));

        Assert.Equal(1000, seconds.Count);
        Assert.InRange(delayed / 1000.0, 0.45, 0.55);
        // The delayed calls took at least 2 s; the others did not (1% slack for a loaded machine).
        Assert.All(seconds.Take(delayed), s => Assert.True(s >= 2.0, $"only {seconds.Count(x => x >= 2.0)} calls took 2 s, {delayed} were delayed"));
        Assert.True(seconds.Skip(delayed).Count(s => s >= 2.0) <= 10, $"{seconds.Count(x => x >= 2.0)} calls took 2 s, only {delayed} were delayed");
    }

    [MeshFact]
    public void Retries_InstanceFailing30Percent_Under1PercentWithRetriesAbout30Without()
    {
        using var heal = Chaos("reviews-v1-0", "failPercent=30&failStatus=503&spread=true");

        // Istio retries 503 twice by default, so "without retries" has to say attempts: 0.
        int withoutFailures;
        using (Applied(Yaml("no-retries", ReviewsV1With("retries: {attempts: 0}"))))
        {
            withoutFailures = Failures(mesh.Exec("curl -s -o /dev/null -w '%{http_code}\\n' 'http://reviews:9080/reviews/1?n=[1-300]'", 300).Stdout, 300);
        }

        int withFailures;
        using (Applied(Yaml("retries", ReviewsV1With("retries: {attempts: 3, retryOn: 5xx}"))))
        {
            withFailures = Failures(mesh.Exec("curl -s -o /dev/null -w '%{http_code}\\n' 'http://reviews:9080/reviews/1?n=[1-1000]'", 300).Stdout, 1000);
            var routes = mesh.Skein("proxy-config", "routes", "client-0");
            Assert.Contains("5xx", routes.Stdout, StringComparison.Ordinal);
        }

        Assert.InRange(withoutFailures / 300.0, 0.25, 0.35);
        Assert.True(withFailures < 10, $"{withFailures} of 1000 calls failed with retries");
    }

    [MeshFact]
    public void CircuitBreaker_OneConnectionOnePending_ExcessFailsFastWithUO()
    {
        var id = "cb-" + Guid.NewGuid().ToString("N")[..8];
        using var slow = Chaos("catalog-0", "delayMs=1000");
        using var _ = Applied(Yaml("breaker", """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: catalog
            spec:
              host: catalog
              trafficPolicy:
                connectionPool:
                  tcp:
                    maxConnections: 1
                  http:
                    http1MaxPendingRequests: 1
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: catalog
            spec:
              hosts: [catalog]
              http:
                - timeout: 5s
                  route:
                    - destination:
                        host: catalog
            """));

        // 20 callers at once, 60 calls: the backend answers one call a second.
        var results = mesh.Exec($"curl -s -Z --parallel-immediate --parallel-max 20 -H 'x-request-id: {id}' -o /dev/null -w '%{{http_code}} %{{time_total}}\\n' 'http://catalog:9080/echo/book?n=[1-60]'", 300)
            .Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' '))
            .Select(p => (Code: p[0], Seconds: double.Parse(p[1], CultureInfo.InvariantCulture)))
            .ToList();

        Assert.Equal(60, results.Count);
        var rejected = results.Where(r => r.Code == "503").ToList();
        Assert.True(rejected.Count >= 30, $"only {rejected.Count} of 60 calls were rejected: {string.Join(", ", results)}");
        Assert.All(rejected, r => Assert.True(r.Seconds < 0.5, $"a rejected call took {r.Seconds} s: it waited instead of failing fast"));
        Assert.All(results, r => Assert.True(r.Seconds < 5.5, $"a call took {r.Seconds} s, past the 5 s timeout"));
        var flagged = mesh.ProxyLog("client-0").Split('\n').Count(l => l.Contains(id, StringComparison.Ordinal) && l.Contains("\"response_flags\":\"UO\"", StringComparison.Ordinal));
        Assert.Equal(rejected.Count, flagged);
    }

    [MeshFact]
    public void OutlierDetection_InstanceReturning500s_EjectedForBaseEjectionTimeThenBack()
    {
        using var restore = Restored(Yaml("reviews-subsets", ReviewsRule("")));
        mesh.Skein("apply", "-f", Yaml("outlier", ReviewsRule("""
              trafficPolicy:
                outlierDetection:
                  consecutive5xxErrors: 3
                  interval: 1s
                  baseEjectionTime: 15s
                  maxEjectionPercent: 100
            """)));
        Thread.Sleep(3000);
        using var heal = Chaos("reviews-v3-0", "failPercent=100&failStatus=500");
        var clock = System.Diagnostics.Stopwatch.StartNew();

        // Round robin over v1, v2, v3: v3 fails three times in a row and is ejected...
        var first = Versions(Calls(60));
        // ...and gets nothing for the rest of its ejection...
        var ejected = Versions(Calls(150));
        var ejectedFor = clock.Elapsed;
        SetChaos("reviews-v3-0", "");
        Thread.Sleep(TimeSpan.FromSeconds(19) - clock.Elapsed);
        // ...then it is back in the rotation, healed.
        var back = Versions(Calls(60));

        Assert.InRange(first.GetValueOrDefault("500 v3"), 3, 4);
        Assert.True(ejectedFor < TimeSpan.FromSeconds(14), $"the ejected phase ran {ejectedFor}, past the ejection time");
        Assert.DoesNotContain(ejected.Keys, k => k.EndsWith("v3", StringComparison.Ordinal));
        Assert.True(back.GetValueOrDefault("200 v3") >= 10, $"v3 did not come back: {string.Join(", ", back)}");
    }

    [MeshFact]
    public void RateLimit_10PerSecondBurst10Under100Rps_About10PerSecondPassAndRestGet429()
    {
        using var _ = Applied("samples/mesh/rate-limit/frontend-ratelimit.yaml");
        Thread.Sleep(2000); // a full bucket to start from

        var run = mesh.Exec("f=$(mktemp); s=$(date +%s.%N); curl -s --rate 100/s -o /dev/null -w '%{http_code}\\n' 'http://frontend:9080/healthz?n=[1-1000]' > $f; e=$(date +%s.%N); sort $f | uniq -c; rm -f $f; awk \"BEGIN { print \\\"elapsed \\\" $e - $s }\"", 300).Stdout;
        var headers = mesh.Exec("curl -s -D - -o /dev/null http://frontend:9080/healthz").Stdout;

        var ok = Count(run, "200");
        var limited = Count(run, "429");
        var elapsed = double.Parse(ElapsedLine().Match(run).Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.Equal(1000, ok + limited);
        // The bucket starts with rate + burst = 20 tokens and gains 10 each second.
        var perSecond = (ok - 20) / elapsed;
        Assert.True(perSecond is >= 8 and <= 12, $"{ok} passed in {elapsed:0.0} s: {perSecond:0.0} per second beyond the burst");
        Assert.Matches("(?im)^x-ratelimit-limit: 20", headers);
        Assert.Matches("(?im)^x-ratelimit-remaining: \\d+", headers);
    }

    [MeshFact]
    public void ProxyConfig_ShowsEachTrafficSettingAsTheSidecarHoldsIt()
    {
        using var restore = Restored(Yaml("reviews-subsets", ReviewsRule("")));
        using var _ = Applied(Yaml("everything", ReviewsRule("""
              trafficPolicy:
                connectionPool:
                  tcp: {maxConnections: 1}
                  http: {http1MaxPendingRequests: 1}
                outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 15s}
                loadBalancer:
                  consistentHash: {httpHeaderName: x-user}
            """) + "\n" + """
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: reviews
            spec:
              hosts: [reviews]
              http:
                - match: [{headers: {end-user: {exact: jason}}}]
                  route: [{destination: {host: reviews, subset: v2}}]
                - route:
                    - {destination: {host: reviews, subset: v1}, weight: 90}
                    - {destination: {host: reviews, subset: v2}, weight: 10}
                  timeout: 3s
                  retries: {attempts: 3, retryOn: 5xx, perTryTimeout: 1s}
                  fault: {delay: {fixedDelay: 2s, percentage: {value: 50}}}
                  mirror: {host: reviews, subset: v3}
                  mirrorPercentage: {value: 25}
            ---
            apiVersion: skein.dev/v1alpha1
            kind: RateLimit
            metadata:
              name: frontend
            spec:
              service: frontend
              requestsPerUnit: 10
              unit: SECOND
              burst: 10
            """));

        // The caller's sidecar holds the routing and the cluster policy; the frontend's sidecar holds its rate limit.
        var routes = mesh.Skein("proxy-config", "routes", "client-0").Stdout;
        var clusters = mesh.Skein("proxy-config", "clusters", "client-0").Stdout;
        var limits = mesh.Skein("proxy-config", "routes", "frontend-0").Stdout;

        const string Reviews = "reviews.default.svc.cluster.local";
        Assert.Contains("end-user:exact=jason", routes, StringComparison.Ordinal);
        Assert.Contains($"outbound|9080|v1|{Reviews} 90%, outbound|9080|v2|{Reviews} 10%", routes, StringComparison.Ordinal);
        Assert.Contains("3 × 5xx", routes, StringComparison.Ordinal);
        Assert.Contains("per try 1s", routes, StringComparison.Ordinal);
        Assert.Contains($"mirror outbound|9080|v3|{Reviews} 25%", routes, StringComparison.Ordinal);
        Assert.Contains("hash header x-user", routes, StringComparison.Ordinal);
        Assert.Contains("delay 2s 50%", routes, StringComparison.Ordinal);
        Assert.Matches(@"\b3s\b", routes);
        Assert.Contains("connections=1 pending=1", clusters, StringComparison.Ordinal);
        Assert.Contains("5xx×3 every 1s eject 15s", clusters, StringComparison.Ordinal);
        Assert.Contains("rate 10/1s burst 20", limits, StringComparison.Ordinal);
    }

    [MeshFact]
    public void ConsistentHash_OnHeader_SameValueAlwaysSameInstance()
    {
        using var restore = Restored(Yaml("reviews-subsets", ReviewsRule("")));
        mesh.Skein("apply", "-f", Yaml("hash", ReviewsRule("""
              trafficPolicy:
                loadBalancer:
                  consistentHash:
                    httpHeaderName: x-user
            """)));
        Thread.Sleep(3000);

        var alice = Versions(mesh.Exec("curl -s -H 'x-user: alice' -o /dev/null -w '%{http_code} %header{x-served-by}\\n' 'http://reviews:9080/reviews/1?n=[1-1000]'", 300).Stdout);
        var spread = Versions(mesh.Exec("for u in $(seq 1 30); do curl -s -H \"x-user: user$u\" -o /dev/null -w '%{http_code} %header{x-served-by}\\n' http://reviews:9080/reviews/1; done", 300).Stdout);

        var only = Assert.Single(alice);
        Assert.Equal(1000, only.Value);
        Assert.True(spread.Count >= 2, $"30 different users all went to one instance: {string.Join(", ", spread)}");
    }

    private static string ReviewsRule(string trafficPolicy) => ReviewsSubsets.Replace("{0}", trafficPolicy, StringComparison.Ordinal);

    private string Calls(int n) =>
        mesh.Exec($"curl -s -o /dev/null -w '%{{http_code}} %header{{x-served-by}}\\n' 'http://reviews:9080/reviews/1?n=[1-{n}]'", 300).Stdout;

    /// <summary>A VirtualService sending all of reviews to v1, with one more field on its route (flow style YAML).</summary>
    private static string ReviewsV1With(string field) => $$$"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
        spec:
          hosts: [reviews]
          http:
            - route: [{destination: {host: reviews, subset: v1}}]
              {{{field}}}
        """;

    /// <summary>Applies a file and deletes it again on dispose; waits for the proxies to get it.</summary>
    private Cleanup Applied(string file)
    {
        var apply = mesh.Skein("apply", "-f", file);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Thread.Sleep(3000);
        return new Cleanup(() => mesh.Skein("delete", "-f", file));
    }

    /// <summary>Re-applies the original of a resource that a test replaces.</summary>
    private Cleanup Restored(string original) => new(() => mesh.Skein("apply", "-f", original));

    /// <summary>Makes one instance misbehave (bookstore's PUT /chaos, from inside its pod) until disposed.</summary>
    private Cleanup Chaos(string pod, string query)
    {
        SetChaos(pod, query);
        return new Cleanup(() => SetChaos(pod, ""));
    }

    private void SetChaos(string pod, string query)
    {
        var result = SkeinCli.Exec(mesh.RunDir, pod, $"curl -sf -X PUT 'http://127.0.0.1:9080/chaos?{query}'", TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    private string Yaml(string name, string content)
    {
        var path = Path.Combine(Path.GetTempPath(), $"skein-e2e-{name}-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, content);
        _files.Add(path);
        return path;
    }

    /// <summary>"STATUS VERSION" counts from lines "STATUS reviews-v2-…" written by curl -w.</summary>
    private static Dictionary<string, int> Versions(string lines) =>
        lines.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => ServedBy().Match(l))
            .Where(m => m.Success)
            .GroupBy(m => $"{m.Groups[1].Value} {m.Groups[2].Value}")
            .ToDictionary(g => g.Key, g => g.Count());

    private static int Failures(string codes, int expected)
    {
        var lines = codes.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(expected, lines.Length);
        return lines.Count(l => l.Trim() != "200");
    }

    private static int Count(string uniq, string code) =>
        Regex.Match(uniq, $@"(?m)^\s*(\d+) {code}\s*$") is { Success: true } m ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;

    [GeneratedRegex(@"^(\d{3}) \w+-(v\d)")]
    private static partial Regex ServedBy();

    [GeneratedRegex(@"elapsed ([\d.]+)")]
    private static partial Regex ElapsedLine();

    private sealed class Cleanup(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
