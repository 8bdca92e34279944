using Skein.Xds.Envoy.Service.Discovery.V3;

namespace Skein.ControlPlane.Xds;

/// <summary>
/// Bounds how many responses are being written at once across all streams. A response is serialized whole
/// into the transport's buffers before it drains at the reader's pace, so thousands of proxies syncing at
/// once would otherwise hold gigabytes of pinned buffers. A writer that holds its slot longer than the
/// timeout (a stalled reader) releases it and finishes outside the bound, so one slow proxy cannot stop the rest.
/// </summary>
internal sealed class WriteLimiter(int slots, TimeSpan slotTimeout) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(Math.Max(1, slots), Math.Max(1, slots));

    public async Task WriteAsync(DiscoveryResponse response, Func<DiscoveryResponse, Task> write)
    {
        await _slots.WaitAsync();
        var released = 0;
        void Release()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
            {
                _slots.Release();
            }
        }

        try
        {
            var writing = write(response);
            if (!writing.IsCompleted)
            {
                using var timer = new CancellationTokenSource();
                var finished = await Task.WhenAny(writing, Task.Delay(slotTimeout, timer.Token));
                await timer.CancelAsync();
                if (finished != writing)
                {
                    Release();
                }
            }

            await writing;
        }
        finally
        {
            Release();
        }
    }

    public void Dispose() => _slots.Dispose();
}
