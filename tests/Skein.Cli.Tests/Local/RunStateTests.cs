using Skein.Cli.Local;

namespace Skein.Cli.Tests.Local;

public sealed class RunStateTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), $"skein-state-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Update_FullState_RoundTripsThroughFile()
    {
        var store = new StateStore(dir, new RunState { StartedAt = DateTimeOffset.Parse("2025-01-02T03:04:05Z"), ControlApi = "http://127.0.0.1:15014" });

        store.Update(s =>
        {
            s.Bridge = LocalNames.Bridge;
            s.RootRules.Add(Firewall.RootRules()[0]);
            s.Control = new ProcessRecord("control", 4242, 123456, "/run/skein/logs/control.log");
            s.Pods.Add(new PodRecord
            {
                Name = "reviews-v2-0",
                Workload = "reviews-v2",
                Namespace = "default",
                Version = "v2",
                Netns = "skein-reviews-v2-0",
                HostVeth = "skv0a1b2c",
                Address = "198.18.1.3",
                EtcDir = "/etc/netns/skein-reviews-v2-0",
                Proxy = new ProcessRecord("proxy", 5000, 777, "p.log"),
                App = new ProcessRecord("app", 5001, 778, "a.log"),
                State = PodStates.Running,
            });
        });
        var (loaded, problem) = StateStore.Load(dir);

        Assert.Null(problem);
        Assert.NotNull(loaded);
        Assert.Equal(StateStore.Serialize(store.State), StateStore.Serialize(loaded));
        Assert.Equal(["198.18.1.3"], loaded.Addresses);
        Assert.Equal(Firewall.RootRules()[0].Spec, loaded.RootRules[0].Spec);
        Assert.Equal(5001, loaded.Pods[0].App!.Pid);
    }

    [Fact]
    public void Load_Missing_ReportsProblem()
    {
        var (state, problem) = StateStore.Load(dir);

        Assert.Null(state);
        Assert.Contains("does not exist", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_Corrupt_ReportsProblemWithoutThrowing()
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(StateStore.PathIn(dir), "{\"pods\": [ {\"name\": ");

        var (state, problem) = StateStore.Load(dir);

        Assert.Null(state);
        Assert.Contains("unreadable", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Update_Twice_LeavesNoTemporaryFile()
    {
        var store = new StateStore(dir, new RunState());

        store.Update(s => s.Bridge = "skein0");
        store.Update(s => s.Bridge = null);

        Assert.Equal([StateStore.FileName], Directory.GetFiles(dir).Select(Path.GetFileName));
    }
}
