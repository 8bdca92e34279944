using System.Buffers.Binary;
using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Security.Cryptography;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Skein.Xds;

namespace Skein.ControlPlane.Translation;

/// <summary>
/// One generated xDS resource: its name, the message, and the packed <see cref="Any"/> (serialized once and
/// shared by every response that carries it), with a hash of the bytes to tell changes apart.
/// </summary>
internal sealed class XdsResource
{
    private XdsResource(string name, IMessage message, Any any, ulong hash)
    {
        Name = name;
        Message = message;
        Any = any;
        Hash = hash;
    }

    public string Name { get; }

    public IMessage Message { get; }

    public Any Any { get; }

    public ulong Hash { get; }

    public static XdsResource Create(string name, IMessage message, string typeUrl)
    {
        var any = XdsAny.Pack(message, typeUrl);
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(any.Value.Span, digest);
        return new XdsResource(name, message, any, BinaryPrimitives.ReadUInt64LittleEndian(digest));
    }
}

/// <summary>The resources of one type generated for a proxy, sorted by name, with a hash of them all.</summary>
internal sealed class TypeResources
{
    private TypeResources(string typeUrl, ImmutableArray<XdsResource> items)
    {
        TypeUrl = typeUrl;
        Items = items;
        var byName = new Dictionary<string, XdsResource>(items.Length, StringComparer.Ordinal);
        foreach (var item in items)
        {
            byName[item.Name] = item;
        }

        ByName = byName.ToFrozenDictionary(StringComparer.Ordinal);
        Hash = HashOf(items);
    }

    public string TypeUrl { get; }

    public ImmutableArray<XdsResource> Items { get; }

    public FrozenDictionary<string, XdsResource> ByName { get; }

    /// <summary>Changes whenever any resource, or the set of names, changes.</summary>
    public ulong Hash { get; }

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

        list.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return new TypeResources(typeUrl, [.. list]);
    }

    /// <summary>Merges already generated parts (no re-serialization); a later duplicate name is dropped.</summary>
    public static TypeResources Concat(string typeUrl, params TypeResources[] parts)
    {
        if (parts.Length == 1)
        {
            return parts[0];
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<XdsResource>();
        foreach (var part in parts)
        {
            foreach (var item in part.Items)
            {
                if (seen.Add(item.Name))
                {
                    list.Add(item);
                }
            }
        }

        list.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return new TypeResources(typeUrl, [.. list]);
    }

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
