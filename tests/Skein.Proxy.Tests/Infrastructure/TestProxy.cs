using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Skein.Proxy.Discovery;
using Skein.Proxy.Runtime;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Route.V3;

namespace Skein.Proxy.Tests.Infrastructure;

/// <summary>
/// The proxy started in-process on free ports (explicit mode unless told otherwise), with an access log that
/// tests can read. Config is applied through the same path ADS uses.
/// </summary>
internal sealed class TestProxy : IAsyncDisposable
{
    private readonly AccessLogSink _log;
    private int _version;

    private TestProxy(ProxyHost host, AccessLogSink log)
    {
        Host = host;
        _log = log;
    }

    public ProxyHost Host { get; }

    public int OutboundPort => Host.OutboundPort;

    public int InboundPort => Host.InboundPort;

    public int AdminPort => Host.AdminPort;

    public AccessLogSink AccessLog => _log;

    public static async Task<TestProxy> StartAsync(ProxyOptions? options = null, IRandomSource? random = null, Bootstrap? bootstrap = null, TimeProvider? time = null)
    {
        options ??= new ProxyOptions();
        options = options with
        {
            OutboundPort = 0,
            InboundPort = 0,
            AdminPort = 0,
            StatsPort = 0,
            HealthPort = 0,
            Mode = options.Mode,
            DrainDuration = TimeSpan.FromSeconds(2),
            LogLevel = Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(Environment.GetEnvironmentVariable("SKEIN_TEST_LOGLEVEL"), out var level)
                ? level
                : options.LogLevel,
        };
        var log = new AccessLogSink();
        var host = ProxyHost.Create(options, new ProxyHostServices
        {
            Random = random ?? SystemRandomSource.Instance,
            AccessLogSink = log,
            Bootstrap = bootstrap,
            Time = time ?? TimeProvider.System,
        });
        var proxy = new TestProxy(host, log);
        await host.StartAsync();
        return proxy;
    }

    /// <summary>Creates the proxy with explicit mode and an outbound HTTP client bound to it.</summary>
    public static Task<TestProxy> StartExplicitAsync(IRandomSource? random = null) =>
        StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit }, random);

    /// <summary>Applies dynamic resources (what an ADS server would send) and fails the test on errors.</summary>
    public void Apply(IEnumerable<Listener>? listeners = null, IEnumerable<RouteConfiguration>? routes = null, IEnumerable<Cluster>? clusters = null, IEnumerable<ClusterLoadAssignment>? endpoints = null)
    {
        var result = TryApply(listeners, routes, clusters, endpoints);
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.NotNull(result.Config);
    }

    public CompileResult TryApply(IEnumerable<Listener>? listeners = null, IEnumerable<RouteConfiguration>? routes = null, IEnumerable<Cluster>? clusters = null, IEnumerable<ClusterLoadAssignment>? endpoints = null)
    {
        var version = Interlocked.Increment(ref _version).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var now = DateTimeOffset.UtcNow;
        XdsTypeState State<T>(string type, IEnumerable<T>? items, Func<T, string> name)
            where T : IMessage =>
            new(type, version, [.. (items ?? []).Select(i => new XdsResource(name(i), i, version, now, false))]);
        var set = new XdsResourceSet(
            State(TypeUrls.Listener, listeners, l => l.Name),
            State(TypeUrls.RouteConfiguration, routes, r => r.Name),
            State(TypeUrls.Cluster, clusters, c => c.Name),
            State(TypeUrls.ClusterLoadAssignment, endpoints, e => e.ClusterName),
            XdsTypeState.Empty(TypeUrls.Secret));
        return Host.Applier.Apply(set);
    }

    /// <summary>An HTTP/1.1 client that connects to the outbound port directly (set Host per request).</summary>
    public HttpClient Client(int? port = null, Version? version = null) => new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false })
    {
        BaseAddress = new Uri($"http://127.0.0.1:{port ?? OutboundPort}"),
        DefaultRequestVersion = version ?? HttpVersion.Version11,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>Sends <paramref name="method"/> <paramref name="path"/> with Host <paramref name="authority"/>.</summary>
    public async Task<HttpResponseMessage> SendAsync(string authority, string path, HttpMethod? method = null, Action<HttpRequestMessage>? configure = null, Version? version = null)
    {
        using var client = Client(version: version);
        var request = new HttpRequestMessage(method ?? HttpMethod.Get, path)
        {
            Version = version ?? HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.Host = authority;
        configure?.Invoke(request);
        return await client.SendAsync(request);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.StopAsync();
        await Host.DisposeAsync();
    }

    /// <summary>Collects the JSON access log lines the proxy writes.</summary>
    internal sealed class AccessLogSink : Stream
    {
        private readonly ConcurrentQueue<string> _lines = new();
        private readonly StringBuilder _partial = new();
        private readonly Lock _lock = new();

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => 0;

        public override long Position { get => 0; set { } }

        public ImmutableArray<JsonElement> Entries => [.. _lines.Select(l => JsonDocument.Parse(l).RootElement.Clone())];

        /// <summary>Waits (bounded) for an entry matching <paramref name="predicate"/>; entries are written after the response.</summary>
        public async Task<JsonElement> WaitForAsync(Func<JsonElement, bool> predicate)
        {
            for (var i = 0; i < 100; i++)
            {
                foreach (var e in Entries)
                {
                    if (predicate(e))
                    {
                        return e;
                    }
                }

                await Task.Delay(50);
            }

            throw new TimeoutException("no matching access log entry; have:\n" + string.Join("\n", _lines));
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_lock)
            {
                _partial.Append(Encoding.UTF8.GetString(buffer, offset, count));
                var text = _partial.ToString();
                int nl;
                while ((nl = text.IndexOf('\n', StringComparison.Ordinal)) >= 0)
                {
                    _lines.Enqueue(text[..nl]);
                    text = text[(nl + 1)..];
                }

                _partial.Clear().Append(text);
            }
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.ToArray(), 0, buffer.Length);
            return ValueTask.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
