using System.Collections.Immutable;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Skein.Proxy.Runtime;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Route.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;

namespace Skein.Proxy.Discovery;

/// <summary>
/// The accepted dynamic resources per type (state of the world) and the names subscribed for EDS and RDS.
/// Pure bookkeeping: the <see cref="AdsClient"/> owns one and mutates it from its stream loop only.
/// </summary>
internal sealed class AdsState
{
    private static readonly ImmutableArray<string> Types =
        [TypeUrls.Cluster, TypeUrls.ClusterLoadAssignment, TypeUrls.Listener, TypeUrls.RouteConfiguration, TypeUrls.Secret];

    private readonly Dictionary<string, XdsTypeState> _accepted = new(StringComparer.Ordinal);

    public AdsState()
    {
        foreach (var t in Types)
        {
            _accepted[t] = XdsTypeState.Empty(t);
        }
    }

    /// <summary>Types a request has been sent for on the current stream (names sent with it).</summary>
    public Dictionary<string, ImmutableArray<string>> Subscribed { get; } = new(StringComparer.Ordinal);

    public XdsTypeState Accepted(string typeUrl) => _accepted[typeUrl];

    /// <summary>The accepted resources of every type as one set.</summary>
    public XdsResourceSet Current => With(null);

    /// <summary>The accepted set with <paramref name="replacement"/> in place of its type.</summary>
    public XdsResourceSet With(XdsTypeState? replacement)
    {
        XdsTypeState Get(string t) => replacement is not null && replacement.TypeUrl == t ? replacement : _accepted[t];
        return new XdsResourceSet(Get(TypeUrls.Listener), Get(TypeUrls.RouteConfiguration), Get(TypeUrls.Cluster), Get(TypeUrls.ClusterLoadAssignment), Get(TypeUrls.Secret));
    }

    public void Accept(XdsTypeState state) => _accepted[state.TypeUrl] = state;

    /// <summary>
    /// Builds the type's new state from a response. CDS and LDS responses are the whole set; EDS and RDS
    /// responses update the named resources and keep the other subscribed ones.
    /// </summary>
    /// <exception cref="ConfigException">A resource has the wrong type, cannot be decoded, or repeats a name.</exception>
    public XdsTypeState FromResponse(string typeUrl, string version, IReadOnlyList<Any> resources, DateTimeOffset now)
    {
        var fresh = new Dictionary<string, XdsResource>(StringComparer.Ordinal);
        for (var i = 0; i < resources.Count; i++)
        {
            var any = resources[i];
            if (!string.Equals(any.TypeUrl, typeUrl, StringComparison.Ordinal))
            {
                throw new ConfigException($"resources[{i}]: type {any.TypeUrl} in a {typeUrl} response");
            }

            IMessage message;
            string name;
            try
            {
                (message, name) = Decode(typeUrl, any);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new ConfigException($"resources[{i}]: cannot decode: {e.Message}");
            }

            if (!fresh.TryAdd(name, new XdsResource(name, message, version, now, IsStatic: false)))
            {
                throw new ConfigException($"resources[{i}]: duplicate resource name \"{name}\"");
            }
        }

        var list = ImmutableArray.CreateBuilder<XdsResource>();
        if (typeUrl is TypeUrls.ClusterLoadAssignment or TypeUrls.RouteConfiguration)
        {
            var wanted = Subscribed.TryGetValue(typeUrl, out var names) ? names.ToHashSet(StringComparer.Ordinal) : [];
            foreach (var old in _accepted[typeUrl].Resources)
            {
                if (!fresh.ContainsKey(old.Name) && wanted.Contains(old.Name))
                {
                    list.Add(old);
                }
            }
        }

        list.AddRange(fresh.Values);
        return new XdsTypeState(typeUrl, version, list.ToImmutable());
    }

    /// <summary>Drops EDS/RDS resources that are no longer subscribed.</summary>
    public void Prune(string typeUrl, ImmutableArray<string> names)
    {
        var keep = names.ToHashSet(StringComparer.Ordinal);
        var s = _accepted[typeUrl];
        _accepted[typeUrl] = s with { Resources = s.Resources.RemoveAll(r => !keep.Contains(r.Name)) };
    }

    /// <summary>EDS names the clusters need (static and dynamic clusters of type EDS).</summary>
    public static ImmutableArray<string> EdsNames(IEnumerable<Cluster> clusters)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var c in clusters)
        {
            if (c.ClusterDiscoveryTypeCase == Cluster.ClusterDiscoveryTypeOneofCase.Type && c.Type == Cluster.Types.DiscoveryType.Eds)
            {
                names.Add(string.IsNullOrEmpty(c.EdsClusterConfig?.ServiceName) ? c.Name : c.EdsClusterConfig.ServiceName);
            }
        }

        return [.. names];
    }

    /// <summary>RDS names the listeners' HTTP connection managers refer to.</summary>
    public static ImmutableArray<string> RdsNames(IEnumerable<Listener> listeners)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var l in listeners)
        {
            foreach (var chain in l.DefaultFilterChain is null ? l.FilterChains : l.FilterChains.Append(l.DefaultFilterChain))
            {
                foreach (var f in chain.Filters)
                {
                    if (f.TypedConfig?.TypeUrl == TypeUrls.HttpConnectionManager)
                    {
                        var hcm = f.TypedConfig.Unpack<HttpConnectionManager>();
                        if (hcm.RouteSpecifierCase == HttpConnectionManager.RouteSpecifierOneofCase.Rds)
                        {
                            names.Add(hcm.Rds.RouteConfigName);
                        }
                    }
                }
            }
        }

        return [.. names];
    }

    private static (IMessage Message, string Name) Decode(string typeUrl, Any any) => typeUrl switch
    {
        TypeUrls.Cluster => Named(any.Unpack<Cluster>(), c => c.Name),
        TypeUrls.ClusterLoadAssignment => Named(any.Unpack<ClusterLoadAssignment>(), c => c.ClusterName),
        TypeUrls.Listener => Named(any.Unpack<Listener>(), l => l.Name),
        TypeUrls.RouteConfiguration => Named(any.Unpack<RouteConfiguration>(), r => r.Name),
        TypeUrls.Secret => Named(any.Unpack<Secret>(), s => s.Name),
        _ => throw new ConfigException($"unsupported type {typeUrl}"),
    };

    private static (IMessage, string) Named<T>(T message, Func<T, string> name)
        where T : IMessage => (message, name(message));
}
