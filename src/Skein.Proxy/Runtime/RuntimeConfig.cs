using System.Collections.Frozen;
using System.Collections.Immutable;
using Google.Protobuf;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Route.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;

namespace Skein.Proxy.Runtime;

/// <summary>One xDS resource as received, kept for <c>/config_dump</c>.</summary>
internal sealed record XdsResource(string Name, IMessage Message, string Version, DateTimeOffset LastUpdated, bool IsStatic);

/// <summary>The xDS resources of one type with the version last accepted for that type.</summary>
internal sealed record XdsTypeState(string TypeUrl, string Version, ImmutableArray<XdsResource> Resources)
{
    public static XdsTypeState Empty(string typeUrl) => new(typeUrl, string.Empty, []);
}

/// <summary>The complete set of xDS resources a runtime config was compiled from.</summary>
internal sealed record XdsResourceSet(
    XdsTypeState Listeners,
    XdsTypeState Routes,
    XdsTypeState Clusters,
    XdsTypeState Endpoints,
    XdsTypeState Secrets)
{
    public static XdsResourceSet Empty { get; } = new(
        XdsTypeState.Empty(TypeUrls.Listener),
        XdsTypeState.Empty(TypeUrls.RouteConfiguration),
        XdsTypeState.Empty(TypeUrls.Cluster),
        XdsTypeState.Empty(TypeUrls.ClusterLoadAssignment),
        XdsTypeState.Empty(TypeUrls.Secret));

    public IEnumerable<XdsTypeState> Types => [Clusters, Endpoints, Listeners, Routes, Secrets];

    public static IEnumerable<T> Messages<T>(XdsTypeState state)
        where T : IMessage
    {
        foreach (var r in state.Resources)
        {
            yield return (T)r.Message;
        }
    }

    public IEnumerable<Listener> ListenerMessages => Messages<Listener>(Listeners);

    public IEnumerable<RouteConfiguration> RouteMessages => Messages<RouteConfiguration>(Routes);

    public IEnumerable<Cluster> ClusterMessages => Messages<Cluster>(Clusters);

    public IEnumerable<ClusterLoadAssignment> EndpointMessages => Messages<ClusterLoadAssignment>(Endpoints);

    public IEnumerable<Secret> SecretMessages => Messages<Secret>(Secrets);
}

/// <summary>
/// One immutable snapshot of everything the proxy serves with. Published with a single volatile write;
/// a request reads it once at its start and keeps it to the end.
/// </summary>
internal sealed class RuntimeConfig
{
    public static RuntimeConfig Empty { get; } = new()
    {
        Generation = 0,
        Resources = XdsResourceSet.Empty,
        Listeners = ListenerTable.Empty,
        Routes = FrozenDictionary<string, RouteTable>.Empty,
        Clusters = FrozenDictionary<string, ClusterEntry>.Empty,
        Secrets = FrozenDictionary<string, Secret>.Empty,
    };

    /// <summary>Increments with every published snapshot (0 = nothing applied yet).</summary>
    public required long Generation { get; init; }

    public required XdsResourceSet Resources { get; init; }

    public required ListenerTable Listeners { get; init; }

    public required FrozenDictionary<string, RouteTable> Routes { get; init; }

    public required FrozenDictionary<string, ClusterEntry> Clusters { get; init; }

    public required FrozenDictionary<string, Secret> Secrets { get; init; }
}

/// <summary>Holds the current <see cref="RuntimeConfig"/>; the only mutable reference to config in the proxy.</summary>
internal sealed class RuntimeConfigStore
{
    private RuntimeConfig _current = RuntimeConfig.Empty;
    private readonly TaskCompletionSource _firstApplied = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The snapshot to use for work starting now.</summary>
    public RuntimeConfig Current => Volatile.Read(ref _current);

    /// <summary>True once a first config has been applied (readiness).</summary>
    public bool IsReady => Current.Generation > 0;

    public Task FirstApplied => _firstApplied.Task;

    /// <summary>Raised after each swap with the previous and the new snapshot.</summary>
    public event Action<RuntimeConfig, RuntimeConfig>? Swapped;

    /// <summary>Publishes <paramref name="next"/>; requests already running keep the snapshot they started with.</summary>
    public void Publish(RuntimeConfig next)
    {
        var previous = Interlocked.Exchange(ref _current, next);
        Swapped?.Invoke(previous, next);
        _firstApplied.TrySetResult();
    }
}
