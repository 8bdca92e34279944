using System.Buffers.Binary;
using System.Collections;
using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Route.V3;

namespace Skein.ControlPlane.Translation;

/// <summary>
/// One generated xDS resource: its name and the packed <see cref="Any"/> (serialized once and shared by every
/// response that carries it), with a hash of the bytes to tell changes apart. The message itself is not kept
/// (the bytes are what is served); <see cref="Message"/> decodes it again for tools and tests.
/// </summary>
internal sealed class XdsResource
{
    private XdsResource(string name, Any any, ulong hash)
    {
        Name = name;
        Any = any;
        Hash = hash;
    }

    public string Name { get; }

    /// <summary>The message, decoded from <see cref="Any"/> on each call.</summary>
    public IMessage Message => Parser(Any.TypeUrl).ParseFrom(Any.Value);

    public Any Any { get; }

    public ulong Hash { get; }

    public static XdsResource Create(string name, IMessage message, string typeUrl) => Create(name, XdsAny.Pack(message, typeUrl));

    /// <summary>Packs <paramref name="message"/>, or returns <paramref name="previous"/> when its bytes are the same.</summary>
    public static XdsResource Create(string name, IMessage message, string typeUrl, XdsResource? previous)
    {
        var any = XdsAny.Pack(message, typeUrl);
        return previous is not null && previous.Name == name && previous.Any.TypeUrl == any.TypeUrl && previous.Any.Value.Equals(any.Value)
            ? previous
            : Create(name, any);
    }

    private static XdsResource Create(string name, Any any)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(any.Value.Span, digest);
        return new XdsResource(name, any, BinaryPrimitives.ReadUInt64LittleEndian(digest));
    }

    private static MessageParser Parser(string typeUrl) => typeUrl switch
    {
        TypeUrls.Cluster => Cluster.Parser,
        TypeUrls.ClusterLoadAssignment => ClusterLoadAssignment.Parser,
        TypeUrls.Listener => Listener.Parser,
        TypeUrls.RouteConfiguration => RouteConfiguration.Parser,
        _ => throw new InvalidOperationException($"no parser for {typeUrl}"),
    };
}

/// <summary>
/// The resources of one type generated for a proxy, sorted by name, with a hash of them all. Either one list
/// (shared by every proxy of a class) or two such lists merged (a class part and a per-shape part, as CDS
/// outbound and inbound clusters): the merge is done lazily, so building a proxy's view costs nothing.
/// </summary>
internal sealed class TypeResources : IReadOnlyList<XdsResource>
{
    private readonly TypeResources? _first;
    private readonly TypeResources? _second;
    private ImmutableArray<XdsResource> _items;
    private IReadOnlyDictionary<string, XdsResource>? _byName;
    private readonly ConditionalWeakTable<SubscriptionSet, Selection> _selections = new();

    private TypeResources(string typeUrl, ImmutableArray<XdsResource> items)
    {
        TypeUrl = typeUrl;
        _items = items;
        Hash = HashOf(items);
    }

    private TypeResources(string typeUrl, TypeResources first, TypeResources second)
    {
        TypeUrl = typeUrl;
        _first = first;
        _second = second;
        Hash = (((first.Hash ^ 0x9E3779B97F4A7C15UL) * 1099511628211UL) ^ second.Hash) * 1099511628211UL;
    }

    public string TypeUrl { get; }

    public ImmutableArray<XdsResource> Items
    {
        get
        {
            if (_items.IsDefault)
            {
                var list = new List<XdsResource>(_first!.Items.Length + _second!.Items.Length);
                foreach (var item in Merged())
                {
                    list.Add(item);
                }

                ImmutableInterlocked.InterlockedInitialize(ref _items, [.. list]);
            }

            return _items;
        }
    }

    public IReadOnlyDictionary<string, XdsResource> ByName
    {
        get
        {
            if (_byName is null)
            {
                var byName = new Dictionary<string, XdsResource>(Items.Length, StringComparer.Ordinal);
                foreach (var item in Items)
                {
                    byName[item.Name] = item;
                }

                Interlocked.CompareExchange(ref _byName, byName, null);
            }

            return _byName;
        }
    }

    /// <summary>Changes whenever any resource, or the set of names, changes.</summary>
    public ulong Hash { get; }

    public int Count => Items.Length;

    public XdsResource this[int index] => Items[index];

    public static TypeResources Empty(string typeUrl) => new(typeUrl, []);

    /// <summary>Packs messages (sorted by name; a later duplicate name is dropped).</summary>
    public static TypeResources Create<T>(string typeUrl, IEnumerable<T> messages, Func<T, string> name)
        where T : IMessage
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<XdsResource>();
        foreach (var m in messages)
        {
            var n = name(m);
            if (seen.Add(n))
            {
                list.Add(XdsResource.Create(n, m, typeUrl));
            }
        }

        return FromSorted(typeUrl, Sort(list));
    }

    /// <summary>Resources already packed (a later duplicate name is dropped), sorted by name.</summary>
    public static TypeResources FromResources(string typeUrl, IEnumerable<XdsResource> resources)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<XdsResource>();
        foreach (var r in resources)
        {
            if (seen.Add(r.Name))
            {
                list.Add(r);
            }
        }

        return FromSorted(typeUrl, Sort(list));
    }

    /// <summary>
    /// Merges two generated parts without re-serializing (on equal names the first part's wins, as when the
    /// parts' messages are concatenated and a later duplicate is dropped).
    /// </summary>
    public static TypeResources Concat(string typeUrl, TypeResources first, TypeResources second) =>
        second.Items.IsEmpty ? first : first.Items.IsEmpty ? second : new(typeUrl, first, second);

    /// <summary>
    /// The same resources as <paramref name="previous"/> when the content is the same (so that callers can tell
    /// "unchanged" by reference), else a new list.
    /// </summary>
    public static TypeResources Reuse(string typeUrl, List<XdsResource> sorted, TypeResources? previous)
    {
        if (previous is not null && previous._items is { IsDefault: false } old && old.Length == sorted.Count)
        {
            var same = true;
            for (var i = 0; i < sorted.Count && same; i++)
            {
                same = ReferenceEquals(old[i], sorted[i]) || (old[i].Name == sorted[i].Name && old[i].Hash == sorted[i].Hash);
            }

            if (same)
            {
                return previous;
            }
        }

        return FromSorted(typeUrl, sorted);
    }

    private static TypeResources FromSorted(string typeUrl, List<XdsResource> sorted) => new(typeUrl, [.. sorted]);

    /// <summary>Sorts by name (the caller has dropped duplicates).</summary>
    public static List<XdsResource> Sort(List<XdsResource> list)
    {
        list.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return list;
    }

    /// <summary>Adds every resource, in name order, to a response (no intermediate list for merged parts).</summary>
    public void AddTo(RepeatedField<Any> target)
    {
        if (!_items.IsDefault)
        {
            foreach (var item in _items)
            {
                target.Add(item.Any);
            }

            return;
        }

        foreach (var item in Merged())
        {
            target.Add(item.Any);
        }
    }

    /// <summary>
    /// The resources named by a subscription, with their hash; computed once per (resources, subscription)
    /// pair, so proxies that subscribe to the same names share one list.
    /// </summary>
    public Selection Select(SubscriptionSet names) => _selections.GetValue(names, n =>
    {
        var list = new List<XdsResource>(n.Count);
        var byName = ByName;
        foreach (var name in n.Names)
        {
            if (byName.TryGetValue(name, out var item))
            {
                list.Add(item);
            }
        }

        return new Selection(list, HashOf(list));
    });

    private IEnumerable<XdsResource> Merged()
    {
        var a = _first!.Items;
        var b = _second!.Items;
        int i = 0, j = 0;
        while (i < a.Length || j < b.Length)
        {
            if (j >= b.Length)
            {
                yield return a[i++];
                continue;
            }

            if (i >= a.Length)
            {
                yield return b[j++];
                continue;
            }

            var c = string.CompareOrdinal(a[i].Name, b[j].Name);
            if (c < 0)
            {
                yield return a[i++];
            }
            else if (c > 0)
            {
                yield return b[j++];
            }
            else
            {
                yield return a[i++];
                j++; // the second part's duplicate is dropped
            }
        }
    }

    public IEnumerator<XdsResource> GetEnumerator() => ((IEnumerable<XdsResource>)Items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>A hash of a list of resources (names and contents).</summary>
    public static ulong HashOf(IReadOnlyList<XdsResource> items)
    {
        // FNV-1a over the names' and contents' hashes: cheap, and the inputs are already well mixed.
        var h = 14695981039346656037UL;
        foreach (var item in items)
        {
            h = (h ^ item.Hash) * 1099511628211UL;
            foreach (var c in item.Name)
            {
                h = (h ^ c) * 1099511628211UL;
            }

            h = (h ^ (ulong)item.Name.Length) * 1099511628211UL;
        }

        return h ^ (ulong)items.Count;
    }

    private static ulong HashOf(ImmutableArray<XdsResource> items)
    {
        var h = 14695981039346656037UL;
        foreach (var item in items)
        {
            h = (h ^ item.Hash) * 1099511628211UL;
            foreach (var c in item.Name)
            {
                h = (h ^ c) * 1099511628211UL;
            }

            h = (h ^ (ulong)item.Name.Length) * 1099511628211UL;
        }

        return h ^ (ulong)items.Length;
    }
}

/// <summary>The resources a named subscription selects, and their hash.</summary>
internal sealed record Selection(IReadOnlyList<XdsResource> Items, ulong Hash);

/// <summary>
/// The names a proxy subscribed to, sorted and without duplicates. Interned: proxies that ask for the same
/// names share one instance (thousands of sidecars subscribe to the same thousands of EDS clusters).
/// </summary>
internal sealed class SubscriptionSet
{
    private static readonly Dictionary<ulong, WeakReference<SubscriptionSet>> Interned = [];

    private readonly string[] _names;

    private SubscriptionSet(string[] names, ulong hash)
    {
        _names = names;
        Hash = hash;
    }

    public static SubscriptionSet Empty { get; } = new([], 0);

    /// <summary>Sorted (ordinal), distinct.</summary>
    public IReadOnlyList<string> Names => _names;

    public int Count => _names.Length;

    public ulong Hash { get; }

    public bool Contains(string name) => Array.BinarySearch(_names, name, StringComparer.Ordinal) >= 0;

    public bool SetEquals(SubscriptionSet other) =>
        ReferenceEquals(this, other) || (Hash == other.Hash && Names.SequenceEqual(other.Names, StringComparer.Ordinal));

    /// <summary>The set of <paramref name="names"/> ("*" left out).</summary>
    public static SubscriptionSet Of(IReadOnlyList<string> names)
    {
        if (names.Count == 0)
        {
            return Empty;
        }

        var list = new List<string>(names.Count);
        var sorted = true;
        foreach (var n in names)
        {
            if (n == "*")
            {
                continue;
            }

            if (list.Count > 0 && string.CompareOrdinal(list[^1], n) >= 0)
            {
                sorted = false;
            }

            list.Add(n);
        }

        if (!sorted)
        {
            list.Sort(StringComparer.Ordinal);
            list = [.. list.Distinct(StringComparer.Ordinal)];
        }

        var h = 14695981039346656037UL;
        foreach (var n in list)
        {
            foreach (var c in n)
            {
                h = (h ^ c) * 1099511628211UL;
            }

            h = (h ^ 0xFF) * 1099511628211UL;
        }

        var set = new SubscriptionSet([.. list], h ^ (ulong)list.Count);
        lock (Interned)
        {
            if (Interned.TryGetValue(set.Hash, out var weak) && weak.TryGetTarget(out var existing) && existing.SetEquals(set))
            {
                return existing;
            }

            if (Interned.Count > 4096)
            {
                foreach (var (k, w) in Interned.ToList())
                {
                    if (!w.TryGetTarget(out _))
                    {
                        Interned.Remove(k);
                    }
                }
            }

            Interned[set.Hash] = new WeakReference<SubscriptionSet>(set);
            return set;
        }
    }
}

/// <summary>Everything generated for one proxy, one collection per ADS type.</summary>
internal sealed record ProxyResources(TypeResources Clusters, TypeResources Endpoints, TypeResources Listeners, TypeResources Routes)
{
    public TypeResources? For(string typeUrl) => typeUrl switch
    {
        TypeUrls.Cluster => Clusters,
        TypeUrls.ClusterLoadAssignment => Endpoints,
        TypeUrls.Listener => Listeners,
        TypeUrls.RouteConfiguration => Routes,
        _ => null,
    };
}
