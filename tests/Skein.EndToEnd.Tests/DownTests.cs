using System.Diagnostics;

namespace Skein.EndToEnd.Tests;

/// <summary>`skein down` removes every namespace, veth, bridge, iptables rule and process `skein up` made.</summary>
public sealed class DownTests
{
    [MeshFact]
    public void Down_AfterUp_LeavesNoNamespaceLinkRuleOrProcess()
    {
        var dir = Directory.CreateTempSubdirectory("skein-e2e-down-").FullName;
        var runDir = dir + "-run";
        File.Copy(Path.Combine(SkeinCli.RepoRoot, "samples/client/client.yaml"), Path.Combine(dir, "client.yaml"));
        File.WriteAllText(Path.Combine(dir, "catalog.yaml"), string.Join("---\n", File.ReadAllText(Path.Combine(SkeinCli.RepoRoot, "samples/mesh/bookstore.yaml"))
            .Split("---\n").Where(d => d.Contains("name: catalog", StringComparison.Ordinal))));
        try
        {
            SkeinCli.Run(TimeSpan.FromMinutes(2), "down");
            var up = SkeinCli.Run(TimeSpan.FromMinutes(6), "up", "-f", dir, "--run-dir", runDir, "--timeout", "240");
            Assert.True(up.ExitCode == 0, up.ToString());
            Assert.Contains("skein-", Sh("ip netns list"), StringComparison.Ordinal);
        }
        finally
        {
            var down = SkeinCli.Run(TimeSpan.FromMinutes(2), "down", "--run-dir", runDir);
            Assert.True(down.ExitCode == 0, down.ToString());
        }

        Assert.DoesNotContain("skein-", Sh("ip netns list"), StringComparison.Ordinal);
        Assert.DoesNotMatch(@"\b(skv[0-9a-f]+|skein0)\b", Sh("ip -o link show"));
        Assert.DoesNotContain("skein", Sh("iptables-save"), StringComparison.Ordinal);
        Assert.DoesNotContain($"SKEIN_RUN_DIR={runDir}", Sh("cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep SKEIN_RUN_DIR || true"), StringComparison.Ordinal);
    }

    private static string Sh(string command)
    {
        var start = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return output;
    }
}
