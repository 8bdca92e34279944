using System.Diagnostics;
using System.Globalization;
using Skein.Xds;
using Skein.Xds.Envoy.Service.Discovery.V3;

namespace Skein.Bench.ControlPlaneScale;

/// <summary>What happened during one phase (initial sync, or one config change), across all proxies.</summary>
internal sealed class Phase(string name, int proxies)
{
    public static readonly string[] TypeNames = ["CDS", "EDS", "LDS", "RDS", "other"];

    private readonly long[] _responses = new long[5];
    private readonly long[] _resources = new long[5];
    private readonly long[] _bytes = new long[5];
    private readonly int[] _touched = new int[proxies];
    private int _affected;
    private long _lastAck;
    private long _lastEvent = Stopwatch.GetTimestamp();

    public string Name { get; } = name;

    public long Start { get; set; } = Stopwatch.GetTimestamp();

    public int Affected => Volatile.Read(ref _affected);

    public long LastAck => Interlocked.Read(ref _lastAck);

    public long LastEvent => Interlocked.Read(ref _lastEvent);

    public long Responses(int type) => Interlocked.Read(ref _responses[type]);

    public long Resources(int type) => Interlocked.Read(ref _resources[type]);

    public long Bytes(int type) => Interlocked.Read(ref _bytes[type]);

    public long TotalResponses => Enumerable.Range(0, 5).Sum(Responses);

    public long TotalResources => Enumerable.Range(0, 5).Sum(Resources);

    public long TotalBytes => Enumerable.Range(0, 5).Sum(Bytes);

    public static int TypeIndex(string typeUrl) => typeUrl switch
    {
        TypeUrls.Cluster => 0,
        TypeUrls.ClusterLoadAssignment => 1,
        TypeUrls.Listener => 2,
        TypeUrls.RouteConfiguration => 3,
        _ => 4,
    };

    public void OnResponse(int proxy, DiscoveryResponse response, long timestamp)
    {
        var t = TypeIndex(response.TypeUrl);
        Interlocked.Increment(ref _responses[t]);
        Interlocked.Add(ref _resources[t], response.Resources.Count);
        Interlocked.Add(ref _bytes[t], response.CalculateSize());
        if (Interlocked.Exchange(ref _touched[proxy], 1) == 0)
        {
            Interlocked.Increment(ref _affected);
        }

        Max(ref _lastEvent, timestamp);
    }

    public void OnAcked(long timestamp)
    {
        Max(ref _lastAck, timestamp);
        Max(ref _lastEvent, timestamp);
    }

    /// <summary>"CDS 2000 / 6,002,000" style: responses and resources per type that saw any.</summary>
    public string Breakdown()
    {
        var parts = new List<string>();
        for (var t = 0; t < 5; t++)
        {
            if (Responses(t) > 0)
            {
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"{TypeNames[t]} {Responses(t):N0} responses / {Resources(t):N0} resources / {Bytes(t) / 1048576.0:F1} MiB"));
            }
        }

        return parts.Count == 0 ? "nothing" : string.Join("; ", parts);
    }

    private static void Max(ref long field, long value)
    {
        var current = Interlocked.Read(ref field);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref field, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}

/// <summary>Collects what the fake proxies see: the current phase's counts, each proxy's sync time and RDS version.</summary>
internal sealed class Recorder : IProxyObserver
{
    private readonly long[] _syncedAt;
    private readonly long[] _rdsVersion;
    private readonly long[] _rdsAckedAt;
    private int _synced;
    private Phase _phase;

    public Recorder(int proxies)
    {
        Proxies = proxies;
        _syncedAt = new long[proxies];
        _rdsVersion = new long[proxies];
        _rdsAckedAt = new long[proxies];
        _phase = new Phase("start", proxies);
    }

    public int Proxies { get; }

    public int Synced => Volatile.Read(ref _synced);

    /// <summary>The last RDS response proxy 0 received (to check that a change carries what was asked).</summary>
    public DiscoveryResponse? LastRdsOfFirstProxy { get; private set; }

    public Phase Phase => Volatile.Read(ref _phase);

    public Phase Begin(string name)
    {
        var phase = new Phase(name, Proxies);
        Volatile.Write(ref _phase, phase);
        return phase;
    }

    public long SyncedAt(int proxy) => Volatile.Read(ref _syncedAt[proxy]);

    public long RdsVersion(int proxy) => Volatile.Read(ref _rdsVersion[proxy]);

    public long RdsAckedAt(int proxy) => Volatile.Read(ref _rdsAckedAt[proxy]);

    public void OnResponse(int proxy, DiscoveryResponse response, long timestamp)
    {
        Phase.OnResponse(proxy, response, timestamp);
        if (proxy == 0 && response.TypeUrl == TypeUrls.RouteConfiguration)
        {
            LastRdsOfFirstProxy = response;
        }
    }

    public void OnAcked(int proxy, DiscoveryResponse response, long timestamp)
    {
        if (response.TypeUrl == TypeUrls.RouteConfiguration && long.TryParse(response.VersionInfo, NumberStyles.None, CultureInfo.InvariantCulture, out var version))
        {
            Volatile.Write(ref _rdsAckedAt[proxy], timestamp);
            Volatile.Write(ref _rdsVersion[proxy], version);
        }

        Phase.OnAcked(timestamp);
    }

    private int _failures;

    public int StreamFailures => Volatile.Read(ref _failures);

    public string? FirstFailure { get; private set; }

    public void OnStreamFailed(int proxy, Exception error)
    {
        if (Interlocked.Increment(ref _failures) == 1)
        {
            FirstFailure = $"proxy {proxy}: {error.GetType().Name}: {error.Message}";
        }
    }

    public void OnSynced(int proxy, long timestamp)
    {
        Volatile.Write(ref _syncedAt[proxy], timestamp);
        Interlocked.Increment(ref _synced);
    }
}
