using Skein.ControlPlane.Translation;
using Skein.Xds;

namespace Skein.ControlPlane.Xds;

/// <summary>A NACK: the version the proxy refused, why, and when.</summary>
internal sealed record NackRecord(string TypeUrl, string Version, string Message, DateTimeOffset Time);

/// <summary>
/// One resource type on one stream: what the proxy subscribed to, what was last sent (version, nonce, content
/// hash and resources), what it last ACKed, and its last NACK. Mutated only by the stream's own loop; status
/// readers copy it under the connection's lock.
/// </summary>
internal sealed class WatchState(string typeUrl)
{
    public string TypeUrl { get; } = typeUrl;

    /// <summary>All resources of the type (LDS/CDS with no names, or "*").</summary>
    public bool Wildcard { get; set; }

    /// <summary>The names subscribed to (interned: proxies with the same subscription share one set).</summary>
    public SubscriptionSet Names { get; set; } = SubscriptionSet.Empty;

    public string? NonceSent { get; set; }

    public string? VersionSent { get; set; }

    public ulong HashSent { get; set; }

    public IReadOnlyList<XdsResource> Sent { get; set; } = [];

    /// <summary>The generated resources <see cref="Sent"/> was taken from (unchanged: nothing to compare).</summary>
    public TypeResources? SentFrom { get; set; }

    /// <summary>The subscription <see cref="Sent"/> was selected for.</summary>
    public SubscriptionSet? SentNames { get; set; }

    public DateTimeOffset? SentAt { get; set; }

    /// <summary>When the snapshot whose content was last sent was created (for change-to-ACK latency).</summary>
    public DateTimeOffset SentSnapshotCreatedAt { get; set; }

    public string? VersionAcked { get; set; }

    public IReadOnlyList<XdsResource> Acked { get; set; } = [];

    public DateTimeOffset? AckedAt { get; set; }

    public NackRecord? LastNack { get; set; }
}

/// <summary>The status of one resource type of one proxy, as <c>/api/v1/proxies</c> shows it.</summary>
internal sealed record WatchStatus(
    string TypeUrl,
    bool Wildcard,
    int SubscribedNames,
    string? VersionSent,
    string? VersionAcked,
    int ResourcesSent,
    DateTimeOffset? SentAt,
    DateTimeOffset? AckedAt)
{
    /// <summary>The proxy runs what was sent last.</summary>
    public bool Synced => VersionSent is not null && VersionSent == VersionAcked;
}

/// <summary>One proxy's status: identity, connection, per-type versions and the last NACK.</summary>
internal sealed record ProxyStatus(
    string ConnectionId,
    ProxyNode Node,
    string Peer,
    bool Connected,
    DateTimeOffset ConnectedAt,
    DateTimeOffset? DisconnectedAt,
    IReadOnlyList<WatchStatus> Types,
    NackRecord? LastNack);

/// <summary>An ADS stream from one proxy: its identity and the state of each resource type it watches.</summary>
internal sealed class ProxyConnection
{
    private readonly object _gate = new();
    private readonly Dictionary<string, WatchState> _watches = new(StringComparer.Ordinal);
    private long _nonce;

    public ProxyConnection(string connectionId, ProxyNode node, string peer, DateTimeOffset connectedAt)
    {
        ConnectionId = connectionId;
        Node = node;
        Peer = peer;
        ConnectedAt = connectedAt;
    }

    public string ConnectionId { get; }

    public ProxyNode Node { get; }

    public string Peer { get; }

    public DateTimeOffset ConnectedAt { get; }

    public DateTimeOffset? DisconnectedAt { get; private set; }

    public bool Connected => DisconnectedAt is null;

    /// <summary>The last NACK on any type.</summary>
    public NackRecord? LastNack { get; private set; }

    /// <summary>Signals the stream's loop that there is a new snapshot to push (set by the push fan-out).</summary>
    public Action<Mesh.MeshSnapshot>? PushSignal { get; set; }

    public string NextNonce() => $"{ConnectionId}-{Interlocked.Increment(ref _nonce)}";

    /// <summary>The state of a type, created on first use. Call only from the stream's loop.</summary>
    public WatchState Watch(string typeUrl)
    {
        lock (_gate)
        {
            if (!_watches.TryGetValue(typeUrl, out var w))
            {
                _watches[typeUrl] = w = new WatchState(typeUrl);
            }

            return w;
        }
    }

    public WatchState? FindWatch(string typeUrl)
    {
        lock (_gate)
        {
            return _watches.GetValueOrDefault(typeUrl);
        }
    }

    /// <summary>Runs a change to the watches under the lock status readers take.</summary>
    public void Update(Action change)
    {
        lock (_gate)
        {
            change();
        }
    }

    public void RecordNack(NackRecord nack)
    {
        lock (_gate)
        {
            LastNack = nack;
            Watch(nack.TypeUrl).LastNack = nack;
        }
    }

    public void MarkDisconnected(DateTimeOffset at)
    {
        lock (_gate)
        {
            DisconnectedAt = at;
        }
    }

    /// <summary>The resources the proxy last ACKed for a type (what it runs).</summary>
    public (string? Version, IReadOnlyList<XdsResource> Resources) Acked(string typeUrl)
    {
        lock (_gate)
        {
            return _watches.TryGetValue(typeUrl, out var w) ? (w.VersionAcked, w.Acked) : (null, []);
        }
    }

    public ProxyStatus Status()
    {
        lock (_gate)
        {
            var types = new List<WatchStatus>();
            foreach (var typeUrl in TypeUrls.AdsResourceTypes)
            {
                if (_watches.TryGetValue(typeUrl, out var w))
                {
                    types.Add(new WatchStatus(typeUrl, w.Wildcard, w.Names.Count, w.VersionSent, w.VersionAcked, w.Sent.Count, w.SentAt, w.AckedAt));
                }
            }

            return new ProxyStatus(ConnectionId, Node, Peer, Connected, ConnectedAt, DisconnectedAt, types, LastNack);
        }
    }
}
