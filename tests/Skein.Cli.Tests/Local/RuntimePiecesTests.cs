using Skein.Api.Loading;
using Skein.Cli.Local;

namespace Skein.Cli.Tests.Local;

public sealed class RuntimePiecesTests
{
    [Fact]
    public void BuildArgv_SidecarInNetns_IpNetnsExecThenSetpriv()
    {
        var spec = new LaunchSpec
        {
            Role = "proxy",
            Command = ["dotnet", "/x/skein-proxy.dll", "--mode", "transparent"],
            Environment = new Dictionary<string, string>(),
            LogFile = "/tmp/x.log",
            Netns = "skein-frontend-0",
            Uid = 1337,
        };

        Assert.Equal(
            ["ip", "netns", "exec", "skein-frontend-0", "setpriv", "--reuid=1337", "--regid=1337", "--clear-groups", "--", "dotnet", "/x/skein-proxy.dll", "--mode", "transparent"],
            ProcessLauncher.BuildArgv(spec));
    }

    [Fact]
    public void BuildArgv_PlainProcess_CommandOnly()
    {
        var spec = new LaunchSpec { Role = "control", Command = ["skein-control", "--xds-port", "15010"], Environment = new Dictionary<string, string>(), LogFile = "/tmp/c.log" };

        Assert.Equal(["skein-control", "--xds-port", "15010"], ProcessLauncher.BuildArgv(spec));
    }

    [Fact]
    public void StartTime_ThisProcess_KnownAndStable()
    {
        var first = ProcessLauncher.StartTime(Environment.ProcessId);

        Assert.NotNull(first);
        Assert.Equal(first, ProcessLauncher.StartTime(Environment.ProcessId));
        Assert.True(ProcessLauncher.IsAlive(new ProcessRecord("self", Environment.ProcessId, first!.Value, "")));
        Assert.False(ProcessLauncher.IsAlive(new ProcessRecord("reused pid", Environment.ProcessId, first.Value + 1, "")));
        Assert.False(ProcessLauncher.IsAlive(new ProcessRecord("unknown start", Environment.ProcessId, 0, "")));
    }

    [Fact]
    public void ParseServices_RegistryShapes_HostAndVip()
    {
        var services = ControlPlaneClient.ParseServices("""
            {"services": [
              {"hostname": "reviews.default.svc.cluster.local", "vip": "198.19.0.3", "ports": [{"port": 9080}]},
              {"name": "catalog", "namespace": "default", "addresses": ["198.19.0.2"]},
              {"hostname": "novip.default.svc.cluster.local"}
            ]}
            """);

        Assert.Equal(
            [new ServiceVip("reviews.default.svc.cluster.local", "198.19.0.3"), new ServiceVip("catalog.default.svc.cluster.local", "198.19.0.2")],
            services);
    }

    [Fact]
    public void PodPlan_SampleMesh_OnePodPerWorkloadWithAppLabel()
    {
        var loaded = ConfigLoader.LoadPaths([Path.Combine(CliRunner.RepoRoot, "samples", "mesh")]);

        var pods = PodPlan.From(loaded.Resources);

        Assert.Equal(["catalog-0", "frontend-0", "ratings-0", "reviews-v1-0", "reviews-v2-0", "reviews-v3-0"], pods.Select(p => p.Name));
        var v2 = pods.Single(p => p.Name == "reviews-v2-0");
        Assert.Equal("reviews", v2.Labels["app"]);
        Assert.Equal("v2", v2.Labels["version"]);
        Assert.Equal("v2", v2.Version);
        Assert.Equal("reviews", v2.ServiceAccount);
        Assert.Equal(["bookstore", "--role", "reviews", "--version", "v2", "--port", "9080"], v2.Command);
        Assert.Equal("frontend", pods.Single(p => p.Name == "frontend-0").Labels["app"]);
    }

    [Fact]
    public void PodPlan_Replicas_NumberedFromZero()
    {
        var loaded = ConfigLoader.LoadText("""
            apiVersion: skein.dev/v1alpha1
            kind: Workload
            metadata: {name: web, namespace: shop}
            spec:
              command: [sleep, infinity]
              replicas: 3
              env: [{name: A, value: "1"}, {name: B}]
            """, "w.yaml");

        var pods = PodPlan.From(loaded.Resources);

        Assert.Equal(["web.shop-0", "web.shop-1", "web.shop-2"], pods.Select(p => p.Name));
        Assert.Equal([KeyValuePair.Create("A", "1"), KeyValuePair.Create("B", "")], pods[0].Env);
        Assert.Equal("default", pods[0].ServiceAccount);
    }

    [Fact]
    public void Locate_Overrides_UsesGivenPrograms()
    {
        var control = Path.Combine(Path.GetTempPath(), $"fake-control-{Guid.NewGuid():N}");
        var proxy = Path.Combine(Path.GetTempPath(), $"fake-proxy-{Guid.NewGuid():N}.dll");
        File.WriteAllText(control, "");
        File.WriteAllText(proxy, "");
        try
        {
            var env = new Dictionary<string, string?>
            {
                [MeshBinaries.ControlVariable] = control,
                [MeshBinaries.ProxyVariable] = proxy,
                [MeshBinaries.AppsPathVariable] = "/opt/a:/opt/b",
            };

            var (binaries, error) = MeshBinaries.Locate(name => env.GetValueOrDefault(name), "/nonexistent/bin/cli/");

            Assert.Null(error);
            Assert.Equal([control], binaries!.Control);
            Assert.Equal(proxy, binaries.Proxy[^1]);
            Assert.EndsWith("dotnet", binaries.Proxy[0], StringComparison.Ordinal);
            Assert.Equal(["/opt/a", "/opt/b"], binaries.AppPath);
        }
        finally
        {
            File.Delete(control);
            File.Delete(proxy);
        }
    }

    [Fact]
    public void Locate_NothingBuilt_ErrorSaysHowToBuild()
    {
        var (binaries, error) = MeshBinaries.Locate(_ => null, "/nonexistent/bin/cli/");

        Assert.Null(binaries);
        Assert.Contains("./skein", error, StringComparison.Ordinal);
        Assert.Contains(MeshBinaries.ControlVariable, error, StringComparison.Ordinal);
    }

    [Fact]
    public void ConcatenateConfig_Files_OneMultiDocumentStream()
    {
        var a = CliRunner.TempFile("kind: A");
        var b = CliRunner.TempFile("---\nkind: B\n");
        try
        {
            var text = LocalRuntime.ConcatenateConfig([a, b]);

            Assert.Equal($"---\n# {a}\nkind: A\n---\n# {b}\n---\nkind: B\n", text);
        }
        finally
        {
            File.Delete(a);
            File.Delete(b);
        }
    }
}

public sealed class LoopbackPortsTests
{
    [Fact]
    public void ForBlock_SecondPod_TenPortsAboveFirst()
    {
        var ports = LoopbackPorts.ForBlock(1, [9080, 9090]);

        Assert.Equal(new ProxyPorts(21011, 21016, 21010, 21019, 21012), ports with { AppPorts = null });
        Assert.Equal(21013, ports.AppPorts![9080]);
        Assert.Equal(21014, ports.AppPorts[9090]);
    }

    [Fact]
    public void ForBlock_TooManyAppPorts_Throws()
    {
        Assert.Throws<LocalRuntimeException>(() => LoopbackPorts.ForBlock(0, [1, 2, 3, 4]));
    }

    [Fact]
    public void NextFreeBlock_PortsInUse_SkipsTheirBlocks()
    {
        var used = new HashSet<int> { 21005, 21017 };

        Assert.Equal(2, LoopbackPorts.NextFreeBlock(0, p => !used.Contains(p)));
        Assert.Equal(3, LoopbackPorts.NextFreeBlock(3, p => !used.Contains(p)));
    }

    [Fact]
    public void RewriteCommand_PortFlags_MovedToLoopbackPort()
    {
        var ports = new Dictionary<int, int> { [9080] = 21003 };

        Assert.Equal(["bookstore", "--role", "catalog", "--port", "21003"], LoopbackPorts.RewriteCommand(["bookstore", "--role", "catalog", "--port", "9080"], ports));
        Assert.Equal(["app", "--port=21003", "-p", "21003", "--other", "9080"], LoopbackPorts.RewriteCommand(["app", "--port=9080", "-p", "9080", "--other", "9080"], ports));
        Assert.Equal(["app", "--port", "8080"], LoopbackPorts.RewriteCommand(["app", "--port", "8080"], ports));
    }
}
