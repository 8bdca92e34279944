using System.Diagnostics;
using System.Net;
using Skein.Proxy.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Skein.Proxy.Tests;

/// <summary>skein-proxy as a process: startup, SIGTERM drain, /quitquitquit, bad bootstrap, and 1 GiB bodies with flat memory.</summary>
public sealed class ProcessTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Startup_StaticBootstrap_ReadyAndServingWithReportedTime()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var proxy = await ProxyProcess.StartAsync(Bootstraps.Backend(backend.Port));
        using var client = Client(proxy);

        using var health = await client.GetAsync($"http://127.0.0.1:{proxy.HealthPort}/healthz/ready");
        using var response = await client.GetAsync($"http://127.0.0.1:{proxy.OutboundPort}/");

        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("v1", response.Headers.GetValues("x-backend").Single());
        // A figure to report, not a pass mark: the JIT build on a loaded 2-core machine varies widely
        // (the NativeAOT build is the one measured against the 200 ms goal, see src/Skein.Proxy/README.md).
        output.WriteLine($"start-to-ready: {proxy.ReadyMilliseconds} ms (JIT build)");
        Assert.True(proxy.ReadyMilliseconds > 0);
    }

    [Fact]
    public async Task Sigterm_RequestInFlight_CompletesThenProcessExitsZero()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var proxy = await ProxyProcess.StartAsync(Bootstraps.Backend(backend.Port), "--drain-duration", "5s");
        using var client = Client(proxy);
        var inFlight = client.GetAsync($"http://127.0.0.1:{proxy.OutboundPort}/slow?ms=1500");
        await WaitForAsync(() => backend.Requests > 0); // the request has reached the backend through the proxy
        var clock = Stopwatch.StartNew();

        proxy.Terminate();
        using var response = await inFlight;
        var exit = await proxy.WaitForExitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // the in-flight request finished
        Assert.Equal(0, exit);
        Assert.InRange(clock.ElapsedMilliseconds, 500, 6000); // waited for it, not for the whole drain
    }

    [Fact]
    public async Task Sigterm_RequestOutlastsDrain_ExitsAfterDrainDuration()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var proxy = await ProxyProcess.StartAsync(Bootstraps.Backend(backend.Port), "--drain-duration", "1s");
        using var client = Client(proxy);
        var inFlight = client.GetAsync($"http://127.0.0.1:{proxy.OutboundPort}/slow?ms=20000");
        await WaitForAsync(() => backend.Requests > 0);
        var clock = Stopwatch.StartNew();

        proxy.Terminate();
        var exit = await proxy.WaitForExitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(0, exit);
        Assert.InRange(clock.ElapsedMilliseconds, 800, 5000);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => inFlight);
    }

    [Fact]
    public async Task QuitQuitQuit_Post_ExitsAtOnce()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        await using var proxy = await ProxyProcess.StartAsync(Bootstraps.Backend(backend.Port), "--drain-duration", "30s");
        using var client = Client(proxy);

        using (var ready = await client.GetAsync($"http://127.0.0.1:{proxy.AdminPort}/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }

        using var response = await client.PostAsync($"http://127.0.0.1:{proxy.AdminPort}/quitquitquit", null);
        var exit = await proxy.WaitForExitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, exit);
    }

    [Fact]
    public async Task Bootstrap_UnknownField_ExitCode3NamingTheField()
    {
        var json = Bootstraps.Backend(1).Replace("\"stat_prefix\": \"outbound_9080\"", "\"stat_prefix\": \"x\", \"no_such_field\": 1", StringComparison.Ordinal);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ProxyProcess.StartAsync(json));

        Assert.Contains("static_resources.listeners[0]", error.Message, StringComparison.Ordinal);
        Assert.Contains("no_such_field", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LargeBodies_1GiBUploadAndDownload_StreamedWithFlatProxyMemory()
    {
        const long OneGiB = 1L << 30;
        await using var backend = await TestBackend.StartAsync("big");
        await using var proxy = await ProxyProcess.StartAsync(Bootstraps.Backend(backend.Port));
        using var client = Client(proxy);
        client.Timeout = TimeSpan.FromMinutes(3);

        // Warm up, then take the baseline after the runtime's first allocations.
        (await client.GetAsync($"http://127.0.0.1:{proxy.OutboundPort}/bytes?n=10000000")).Dispose();
        var baseline = proxy.RssBytes();

        using var upload = new StreamContent(new PatternStream(OneGiB), 64 * 1024);
        upload.Headers.ContentLength = OneGiB;
        using var uploaded = await client.PostAsync($"http://127.0.0.1:{proxy.OutboundPort}/upload", upload);
        Assert.Equal(OneGiB.ToString(System.Globalization.CultureInfo.InvariantCulture), await uploaded.Content.ReadAsStringAsync());

        using var download = await client.GetAsync($"http://127.0.0.1:{proxy.OutboundPort}/bytes?n={OneGiB}", HttpCompletionOption.ResponseHeadersRead);
        await using var body = await download.Content.ReadAsStreamAsync();
        var buffer = new byte[256 * 1024];
        long total = 0;
        int n;
        while ((n = await body.ReadAsync(buffer)) > 0)
        {
            total += n;
        }

        Assert.Equal(OneGiB, total);
        var peak = proxy.PeakRssBytes();
        output.WriteLine($"proxy RSS baseline {baseline / 1048576} MiB, peak over both transfers {peak / 1048576} MiB");
        Assert.True(peak - baseline < 64L * 1024 * 1024, $"peak RSS grew by {(peak - baseline) / 1048576} MiB over the baseline of {baseline / 1048576} MiB");
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(25);
        }

        Assert.True(condition(), "not within 5 s");
    }

    private static HttpClient Client(ProxyProcess proxy)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Host = "backend:9080";
        return client;
    }

    /// <summary>A generated, non-seekable body of <c>length</c> bytes (nothing is held in memory).</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            buffer.AsSpan(offset, n).Fill((byte)'a');
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
