using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Skein.EndToEnd.Tests;

/// <summary>
/// Issue 4's acceptance on the real netns runtime: the sample mesh behind `skein up`, driven from a
/// client pod whose traffic is captured by its own sidecar.
/// </summary>
[Collection("mesh")]
public sealed partial class MeshTests(MeshFixture mesh)
{
    private const string Canary = "samples/mesh/canary/reviews-canary.yaml";

    [MeshFact]
    public void Up_SampleMesh_AllPodsRunning()
    {
        Assert.True(mesh.Up is { ExitCode: 0 }, mesh.Up?.ToString());
        Assert.Contains("mesh is up (8 pods", mesh.Up!.Stdout, StringComparison.Ordinal); // the bookstore, the client and the legacy pod without a sidecar
    }

    [MeshFact]
    public void Frontend_CalledFromClientPod_PageNamesReviewsVersionAndCrossesBothSidecars()
    {
        var requestId = "e2e-" + Guid.NewGuid().ToString("N");

        var vip = mesh.Exec("getent hosts frontend");
        var page = mesh.Exec($"curl -s -H 'x-request-id: {requestId}' http://frontend:9080/");

        // The app resolved the service to its VIP (198.19/16), not to a pod (198.18/16)...
        Assert.Matches(@"^198\.19\.\d+\.\d+\s", vip.Stdout);
        Assert.Matches("served by reviews-v[123]", page.Stdout);
        // ...and both sidecars saw this very request: the client's going out, the frontend's coming in.
        Assert.True(Eventually.True(() => mesh.ProxyLog("client-0").Contains(requestId, StringComparison.Ordinal)), "client sidecar did not log the request");
        Assert.True(Eventually.True(() => mesh.ProxyLog("frontend-0").Contains(requestId, StringComparison.Ordinal)), "frontend sidecar did not log the request");
        var clientLine = mesh.ProxyLog("client-0").Split('\n').First(l => l.Contains(requestId, StringComparison.Ordinal));
        Assert.Contains("198.18.", clientLine, StringComparison.Ordinal); // forwarded to a pod address
    }

    [MeshFact]
    public void Apply_Canary9010_2000CallsWithin3PercentWithin2Seconds()
    {
        try
        {
            var apply = mesh.Skein("apply", "-f", Canary);
            Assert.True(apply.ExitCode == 0, apply.ToString());
            var applied = Stopwatch.StartNew();
            Thread.Sleep(TimeSpan.FromSeconds(2) - applied.Elapsed);

            var counts = Versions(mesh.Exec("curl -s 'http://reviews:9080/reviews/1?n=[1-2000]' | grep -o '\"version\":\"v[0-9]\"' | sort | uniq -c", 300).Stdout);

            Assert.Equal(2000, counts.Values.Sum());
            var v1Share = counts.GetValueOrDefault("v1") / 2000.0;
            Assert.InRange(v1Share, 0.87, 0.93);
            Assert.Equal(2000, counts.GetValueOrDefault("v1") + counts.GetValueOrDefault("v2"));
        }
        finally
        {
            mesh.Skein("delete", "-f", Canary);
        }
    }

    [MeshFact]
    public void Apply_WeightOutOfRange_RejectedWithLineAndColumnAndTrafficKeepsFlowing()
    {
        var bad = Path.Combine(Path.GetTempPath(), $"bad-weight-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(bad, File.ReadAllText(Path.Combine(SkeinCli.RepoRoot, Canary)).Replace("weight: 10", "weight: 150", StringComparison.Ordinal));

        var apply = mesh.Skein("apply", "-f", bad);
        var codes = mesh.Exec("curl -s -o /dev/null -w '%{http_code}\\n' 'http://frontend:9080/?n=[1-50]' | sort | uniq -c");

        Assert.Equal(1, apply.ExitCode);
        Assert.Matches(@":\d+:\d+ spec\.http\[0\]\.route\[1\]\.weight: must be between 0 and 100", apply.Stdout);
        Assert.Matches(@"^\s*50 200\s*$", codes.Stdout);
    }

    [MeshFact]
    public void Apply_NewService_NameResolvesInPodsAndAnswers()
    {
        var file = Path.Combine(Path.GetTempPath(), $"books-service-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, """
            apiVersion: v1
            kind: Service
            metadata:
              name: books
            spec:
              selector:
                app: catalog
              ports:
                - name: http
                  port: 9080
            """);
        try
        {
            var apply = mesh.Skein("apply", "-f", file);
            Assert.True(apply.ExitCode == 0, apply.ToString());
            // Config reaches every sidecar within seconds (the push is debounced, sidecars may still be reconnecting).
            Assert.True(Eventually.True(() => Regex.IsMatch(mesh.Exec("getent hosts books").Stdout, @"^198\.19\.\d+\.\d+\s+books")), "books has no VIP in the pods' hosts file");
            var code = "";
            Assert.True(
                Eventually.True(() => (code = mesh.Exec("curl -s -o /dev/null -w '%{http_code}' http://books:9080/healthz").Stdout.Trim()) == "200"),
                $"books answered {code}");

            mesh.Skein("delete", "-f", file);
            Assert.Equal("", mesh.Exec("getent hosts books").Stdout.Trim());
        }
        finally
        {
            mesh.Skein("delete", "-f", file);
            File.Delete(file);
        }
    }

    [MeshFact]
    public void ControlPlane_KilledDuringTraffic_NoRequestLostAndProxiesResync()
    {
        var traffic = Task.Run(() => mesh.Exec("curl -s -o /dev/null -w '%{http_code}\\n' 'http://frontend:9080/?n=[1-600]' | sort | uniq -c", 300));
        Thread.Sleep(1500);

        Process.GetProcessById(mesh.ControlPlanePid()).Kill();
        Thread.Sleep(3000);
        var restart = mesh.Skein("control-plane", "restart");
        var codes = traffic.GetAwaiter().GetResult();

        Assert.True(restart.ExitCode == 0, restart.ToString());
        Assert.Matches(@"^\s*600 200\s*$", codes.Stdout);
        Assert.True(Eventually.True(EveryProxySynced, TimeSpan.FromSeconds(30)), mesh.Skein("proxy-status").ToString());
    }

    /// <summary>Every sidecar of the mesh is connected and has ACKed the latest version of every type.</summary>
    private bool EveryProxySynced()
    {
        var status = mesh.Skein("proxy-status");
        return status.ExitCode == 0
            && Regex.Count(status.Stdout, @"│ yes\s+│") == mesh.SidecarCount
            && Regex.Count(status.Stdout, "SYNCED") == 4 * mesh.SidecarCount;
    }

    private static Dictionary<string, int> Versions(string uniqCount) =>
        VersionCount().Matches(uniqCount).ToDictionary(m => m.Groups[2].Value, m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));

    [GeneratedRegex("(\\d+) \"version\":\"(v\\d)\"")]
    private static partial Regex VersionCount();
}
