using Microsoft.Extensions.Logging.Abstractions;
using Skein.ControlPlane.ConfigStore;
using Skein.ControlPlane.Tests.Translation;

namespace Skein.ControlPlane.Tests.ConfigStore;

public sealed class ConfigDirectoryWatcherTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "skein-watch-tests", Guid.NewGuid().ToString("n"));

    [Fact]
    public async Task Start_ThenFileWrittenInSubdirectory_ReloadsWholeDirectory()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "scenarios"));
        File.WriteAllText(Path.Combine(_dir, "bookstore.yaml"), SimulationTests.Input("bookstore"));
        var store = new MeshConfigStore(DataDirectory.None, NullLogger<MeshConfigStore>.Instance);
        using var watcher = new ConfigDirectoryWatcher(_dir, store, TimeSpan.FromMilliseconds(50), TimeProvider.System, NullLogger<ConfigDirectoryWatcher>.Instance);
        var changed = new TaskCompletionSource<ConfigSnapshot>(TaskCreationOptions.RunContinuationsAsynchronously);

        Assert.True(watcher.Start().Accepted);
        var version = store.Current.Version;
        store.Changed += s => changed.TrySetResult(s);
        File.WriteAllText(Path.Combine(_dir, "scenarios", "limit.yaml"), """
            apiVersion: skein.dev/v1alpha1
            kind: RateLimit
            metadata: {name: frontend}
            spec: {service: frontend, requestsPerUnit: 10, unit: SECOND}
            """);
        var snapshot = await changed.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(snapshot.Version > version);
        Assert.Contains(snapshot.Resources, r => r.Kind == "RateLimit");
    }

    [Fact]
    public async Task BrokenFile_KeepsLastGoodConfigUntilFixed()
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, "bookstore.yaml"), SimulationTests.Input("bookstore"));
        var store = new MeshConfigStore(DataDirectory.None, NullLogger<MeshConfigStore>.Instance);
        using var watcher = new ConfigDirectoryWatcher(_dir, store, TimeSpan.FromMilliseconds(50), TimeProvider.System, NullLogger<ConfigDirectoryWatcher>.Instance);
        watcher.Start();
        var good = store.Current;

        var reloads = watcher.Reloads;
        File.WriteAllText(Path.Combine(_dir, "broken.yaml"), "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 99999}]}\n");
        await WaitAsync(() => watcher.Reloads > reloads);

        Assert.Same(good, store.Current);
        Assert.Contains(store.DirectoryErrors, d => d.Location?.File.EndsWith("broken.yaml", StringComparison.Ordinal) == true);

        File.Delete(Path.Combine(_dir, "broken.yaml"));
        await WaitAsync(() => store.DirectoryErrors.Count == 0);
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(20);
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
