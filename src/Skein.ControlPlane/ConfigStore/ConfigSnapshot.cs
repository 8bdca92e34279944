using System.Collections.Immutable;
using Skein.Api.Model;

namespace Skein.ControlPlane.ConfigStore;

/// <summary>Where a resource in the store came from.</summary>
internal enum ConfigOrigin
{
    /// <summary>A file under <c>--config-dir</c>.</summary>
    Directory,

    /// <summary><c>POST /api/v1/config</c> (<c>skein apply -f</c>).</summary>
    Api,
}

/// <summary>
/// One immutable version of the mesh's config: the resources of the config directory and of the API
/// merged (the API wins on the same kind/namespace/name), sorted by key. Replaced whole on every change.
/// </summary>
internal sealed class ConfigSnapshot
{
    private ConfigSnapshot(
        long version,
        ImmutableSortedDictionary<ConfigKey, Resource> directory,
        ImmutableSortedDictionary<ConfigKey, Resource> api)
    {
        Version = version;
        DirectoryLayer = directory;
        ApiLayer = api;
        var merged = directory.SetItems(api);
        ByKey = merged;
        Resources = [.. merged.Values];
    }

    public static ConfigSnapshot Empty { get; } = new(0, ImmutableSortedDictionary<ConfigKey, Resource>.Empty, ImmutableSortedDictionary<ConfigKey, Resource>.Empty);

    /// <summary>Incremented on every change to the effective config.</summary>
    public long Version { get; }

    /// <summary>The effective resources, sorted by kind, namespace and name.</summary>
    public ImmutableArray<Resource> Resources { get; }

    public ImmutableSortedDictionary<ConfigKey, Resource> ByKey { get; }

    public ImmutableSortedDictionary<ConfigKey, Resource> DirectoryLayer { get; }

    public ImmutableSortedDictionary<ConfigKey, Resource> ApiLayer { get; }

    public ConfigOrigin OriginOf(ConfigKey key) => ApiLayer.ContainsKey(key) ? ConfigOrigin.Api : ConfigOrigin.Directory;

    public ConfigSnapshot With(
        long version,
        ImmutableSortedDictionary<ConfigKey, Resource>? directory = null,
        ImmutableSortedDictionary<ConfigKey, Resource>? api = null) =>
        new(version, directory ?? DirectoryLayer, api ?? ApiLayer);
}
