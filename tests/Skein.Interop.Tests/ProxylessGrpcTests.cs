using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Skein.Interop.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Skein.Interop.Tests;

/// <summary>
/// skein-control's xDS, consumed by a client we did not write: <c>@grpc/grpc-js-xds</c> (Node) calls
/// <c>xds:///ratings...</c> with nothing but a bootstrap file pointing at skein-control's ADS port, and must see
/// the routing the VirtualService asks for. A NACK, a hang or a wrong split fails with the client's grpc-js xDS
/// trace and skein-control's view of the client (<c>/api/v1/proxies</c>, which records NACK messages).
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class ProxylessGrpcTests(InteropMesh mesh, ITestOutputHelper output)
{
    private const int PlainCalls = 400;
    private const int JasonCalls = 100;
    private const int V2Percent = 20;

    /// <summary>
    /// grpc-js-xds picks a weighted cluster with Math.random per call, so the v2 count of 400 calls is
    /// binomial: σ = √(400 · 0.2 · 0.8) = 8 calls = 2 percentage points. ±6 points is ±3σ: a correct split
    /// fails about 1 run in 370 (0.27 %). What a translation bug produces (50/50, 100/0, 0/100, swapped
    /// 20/80) is always caught; a split 10 points off (90/10, 70/30) is caught in at least 95 % of runs.
    /// </summary>
    private const int TolerancePercent = 6;

    private static readonly TimeSpan ClientTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task GetRatings_ShortNameTarget_SplitsEightyTwentyAndRoutesJasonToV2()
    {
        var run = await NodeClient.RunAsync(mesh.LogDirectory, mesh.XdsPort, "ratings:9080", PlainCalls, JasonCalls, ClientTimeout);
        Report(run);
        var why = await DiagnoseAsync(run);

        AssertEveryCallAnswered(run, why);
        var v1 = Instances("v1");
        var v2 = Instances("v2");
        var plain = run.Plain.ToList();
        Assert.True(plain.Count == PlainCalls, $"expected {PlainCalls} calls without headers, got {plain.Count}.{why}");
        Assert.True(plain.All(c => v1.Contains(c.ServedBy) || v2.Contains(c.ServedBy)), $"a call was answered by an unknown instance.{why}");

        // In whole calls, so the bounds are exact: 56..104 of 400.
        var v2Count = plain.Count(c => v2.Contains(c.ServedBy));
        Assert.True(
            Math.Abs((v2Count * 100) - (V2Percent * PlainCalls)) <= TolerancePercent * PlainCalls,
            $"v2 answered {v2Count} of {PlainCalls} calls without headers ({(double)v2Count / PlainCalls:P1}); "
            + $"the VirtualService says {V2Percent} % (±{TolerancePercent} points).{why}");

        // Both v1 endpoints came through EDS: round robin reaches each of them.
        foreach (var instance in v1)
        {
            Assert.True(plain.Any(c => c.ServedBy == instance), $"{instance} answered no call: its endpoint is missing from the client's EDS.{why}");
        }

        var jason = run.Jason.ToList();
        Assert.True(jason.Count == JasonCalls, $"expected {JasonCalls} calls with end-user: jason, got {jason.Count}.{why}");
        Assert.True(
            jason.All(c => v2.Contains(c.ServedBy)),
            $"calls with end-user: jason reached {string.Join(", ", jason.Where(c => !v2.Contains(c.ServedBy)).Select(c => c.ServedBy).Distinct())}, not only v2.{why}");

        await AssertClientAckedAsync(run, why);
    }

    /// <summary>Every name a client may use for the service (FQDN, short forms, VIP) is a listener with the same routes.</summary>
    [Theory]
    [InlineData("ratings.default.svc.cluster.local:9080")]
    [InlineData("ratings.default.svc:9080")]
    [InlineData("ratings.default:9080")]
    [InlineData("{vip}:9080")]
    public async Task GetRatings_OtherServiceNameTarget_RoutesAsVirtualServiceSays(string target)
    {
        target = target.Replace("{vip}", mesh.Vip, StringComparison.Ordinal);
        // 50 calls at 20 %: v2 is never picked with probability 0.8^50 ≈ 1e-5.
        var run = await NodeClient.RunAsync(mesh.LogDirectory, mesh.XdsPort, target, plain: 50, jason: 20, ClientTimeout);
        Report(run);
        var why = await DiagnoseAsync(run);

        AssertEveryCallAnswered(run, why);
        var v1 = Instances("v1");
        var v2 = Instances("v2");
        Assert.True(run.Plain.Any(c => v1.Contains(c.ServedBy)), $"no call without headers reached v1.{why}");
        Assert.True(run.Plain.Any(c => v2.Contains(c.ServedBy)), $"no call without headers reached v2.{why}");
        Assert.True(run.Jason.All(c => v2.Contains(c.ServedBy)), $"a call with end-user: jason did not reach v2.{why}");
        await AssertClientAckedAsync(run, why);
    }

    /// <summary>Who answered, per group, in the test's output (visible with a detailed logger, and in TRX files).</summary>
    private void Report(ClientRun run)
    {
        output.WriteLine($"xds:///{run.Target} (node {run.NodeId}), exit code {run.ExitCode}, log {run.LogFile}");
        foreach (var group in run.Calls.GroupBy(c => c.Group))
        {
            var answered = group.Where(c => c.Ok).GroupBy(c => c.ServedBy).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => $"{g.Key} {g.Count()} ({(double)g.Count() / group.Count():P1})");
            output.WriteLine($"  {group.Key}: {group.Count()} calls, {group.Count(c => !c.Ok)} failed; {string.Join(", ", answered)}");
        }
    }

    private HashSet<string> Instances(string version) =>
        [.. mesh.Instances.Where(i => i.Version == version).Select(i => i.ServedBy)];

    private static void AssertEveryCallAnswered(ClientRun run, string why)
    {
        Assert.True(
            run.ExitCode == 0,
            run.ExitCode == NodeClient.TimedOut
                ? $"client.js hung and was killed.{why}"
                : $"client.js exited with {run.ExitCode} (2: no call succeeded within 30 s, see NOT_READY below).{why}");
        var failed = run.Failed.ToList();
        Assert.True(
            failed.Count == 0,
            $"{failed.Count} of {run.Calls.Count} calls failed, e.g. {string.Join("; ", failed.Take(5).Select(c => $"#{c.Number} {c.Group}: {c.Error}"))}.{why}");
    }

    /// <summary>skein-control saw the client as proxyless, every type ACKed and no NACK, and the EDS it ACKed holds exactly the instances.</summary>
    private async Task AssertClientAckedAsync(ClientRun run, string why)
    {
        var status = await mesh.ProxyStatusAsync(run.NodeId);
        Assert.True(status is not null, $"skein-control does not list the client {run.NodeId}.{why}");
        Assert.True((string?)status["mode"] == "proxyless", $"skein-control sees the client as {(string?)status["mode"]}, not proxyless.{why}");
        Assert.True(status["lastNack"] is null, $"the client NACKed: {status["lastNack"]?.ToJsonString()}.{why}");
        foreach (var type in (string[])["listeners", "routes", "clusters", "endpoints"])
        {
            var acked = (string?)status["types"]?[type]?["acked"];
            Assert.True(acked is not null, $"the client never ACKed {type}.{why}");
        }

        var endpoints = await mesh.ProxyConfigAsync(run.NodeId, "endpoints");
        foreach (var version in (string[])["v1", "v2"])
        {
            var cluster = $"outbound|9080|{version}|ratings.default.svc.cluster.local";
            var assignment = endpoints["endpoints"]!["resources"]!.AsArray().OfType<JsonObject>().SingleOrDefault(r => (string?)r["clusterName"] == cluster);
            Assert.True(assignment is not null, $"the client ACKed no ClusterLoadAssignment for {cluster}.{why}");
            var addresses = assignment["endpoints"]!.AsArray()
                .SelectMany(l => l!["lbEndpoints"]!.AsArray())
                .Select(e => e!["endpoint"]!["address"]!["socketAddress"]!)
                .Select(a => $"{(string?)a["address"]}:{(int?)a["portValue"]}")
                .Order(StringComparer.Ordinal);
            var expected = mesh.Instances.Where(i => i.Version == version).Select(i => $"127.0.0.1:{i.Port}").Order(StringComparer.Ordinal);
            Assert.Equal(expected, addresses);
        }
    }

    /// <summary>What to read when an assertion fails: the client's own lines, its xDS trace, and skein-control's view of it.</summary>
    private async Task<string> DiagnoseAsync(ClientRun run)
    {
        var text = new StringBuilder();
        text.Append("\n\n--- client ").Append(run.NodeId).Append(" → xds:///").Append(run.Target).Append(" (full log: ").Append(run.LogFile).AppendLine(")");
        foreach (var line in run.OtherOutput)
        {
            text.AppendLine(line);
        }

        text.AppendLine("--- grpc-js trace (last lines)").AppendLine(run.Trace);
        try
        {
            var status = await mesh.ProxyStatusAsync(run.NodeId);
            text.AppendLine("--- skein-control /api/v1/proxies entry")
                .AppendLine(status?.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) ?? "(none)");
        }
        catch (Exception e) when (e is HttpRequestException or InvalidOperationException or TaskCanceledException)
        {
            text.Append("--- skein-control API unreachable: ").AppendLine(e.Message);
        }

        text.AppendLine("--- skein-control log (last lines)").AppendLine(mesh.ControlPlaneLog());
        return text.ToString();
    }
}
