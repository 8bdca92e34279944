using System.Text.Json;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Skein.EndToEnd.Tests;

/// <summary>
/// The bookstore mesh plus a client pod, brought up once with `skein up` for the tests of a
/// collection and always brought down (`skein down`) afterwards, even when a test fails.
/// </summary>
public sealed class MeshFixture : IDisposable
{
    public MeshFixture()
    {
        if (MeshFactAttribute.Unavailable() is not null)
        {
            return;
        }

        RunDir = Path.Combine(Path.GetTempPath(), "skein-e2e-" + Guid.NewGuid().ToString("N")[..8]);
        // A crashed earlier run may have left a mesh behind; `up` refuses to start over it.
        SkeinCli.Run(TimeSpan.FromMinutes(2), "down");
        Up = SkeinCli.Run(TimeSpan.FromMinutes(8), "up", "-f", "samples/mesh", "-f", "samples/client", "--run-dir", RunDir, "--timeout", "300",
            // Short-lived workload certificates: every sidecar renews its certificate about once a minute while the
            // tests drive traffic, so every test also checks that rotation loses no call.
            "--cert-ttl", CertificateLifetime);
    }

    /// <summary>What the sidecars ask the CA for: renewal at half of it.</summary>
    public const string CertificateLifetime = "2m";

    public string RunDir { get; } = "";

    /// <summary>A pod's address on the bridge, from the run state.</summary>
    public string PodAddress(string pod)
    {
        using var state = State();
        return state.RootElement.GetProperty("pods").EnumerateArray()
            .Single(p => p.GetProperty("name").GetString() == pod).GetProperty("address").GetString()!;
    }

    public CliResult? Up { get; }

    public CliResult Exec(string shell, int timeoutSeconds = 120) => SkeinCli.Exec(RunDir, "client-0", shell, TimeSpan.FromSeconds(timeoutSeconds));

    public CliResult Skein(params string[] args) => SkeinCli.Run(TimeSpan.FromMinutes(2), [.. args, .. RunDirArgs(args)]);

    /// <summary>The pid of skein-control, from the run state `skein up` wrote.</summary>
    public int ControlPlanePid()
    {
        using var state = State();
        return state.RootElement.GetProperty("control").GetProperty("pid").GetInt32();
    }

    /// <summary>How many of the pods `skein up` started run a sidecar, from the run state.</summary>
    public int SidecarCount
    {
        get
        {
            using var state = State();
            return state.RootElement.GetProperty("pods").EnumerateArray()
                .Count(p => p.TryGetProperty("proxy", out var proxy) && proxy.ValueKind == JsonValueKind.Object);
        }
    }

    public string ProxyLog(string pod) => File.ReadAllText(Path.Combine(RunDir, "logs", $"{pod}-proxy.log"));

    public void Dispose()
    {
        if (RunDir.Length > 0)
        {
            SkeinCli.Run(TimeSpan.FromMinutes(2), "down", "--run-dir", RunDir);
        }
    }

    /// <summary>The run state `skein up` keeps (state.json): pods, addresses, processes.</summary>
    public JsonDocument State() => JsonDocument.Parse(File.ReadAllText(Path.Combine(RunDir, "state.json")));

    private string[] RunDirArgs(string[] args) => args.Length > 0 && args[0] is "control-plane" or "exec" or "down" or "status" or "apply" or "delete" ? ["--run-dir", RunDir] : [];
}

[CollectionDefinition("mesh")]
public sealed class MeshCollection : ICollectionFixture<MeshFixture>;
