namespace Skein.Bookstore.Tests.Infrastructure;

/// <summary>
/// A test fixture that owns bookstore processes: everything it started is killed when it is
/// disposed, and also when starting one of them fails halfway.
/// </summary>
public abstract class ProcessFixture : IAsyncLifetime
{
    private readonly List<BookstoreProcess> _processes = [];

    public async Task InitializeAsync()
    {
        try
        {
            await StartAsync();
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        BookstoreProcess[] all;
        lock (_processes)
        {
            all = [.. _processes];
            _processes.Clear();
        }
        await Task.WhenAll(all.Select(p => p.DisposeAsync().AsTask()));
    }

    /// <summary>Starts the fixture's processes with <see cref="Start"/>.</summary>
    protected abstract Task StartAsync();

    internal async Task<BookstoreProcess> Start(string role, Dictionary<string, string>? environment = null, params string[] arguments)
    {
        var process = await BookstoreProcess.StartAsync(role, environment, arguments);
        lock (_processes)
        {
            _processes.Add(process);
        }
        return process;
    }
}
