using Skein.Api.Model;

namespace Skein.ControlPlane.ConfigStore;

/// <summary>What identifies a resource in the store, as in Kubernetes: kind, namespace and name.</summary>
internal readonly record struct ConfigKey(string Kind, string Namespace, string Name) : IComparable<ConfigKey>
{
    public static ConfigKey Of(Resource resource) => new(resource.Kind, resource.Namespace, resource.Name);

    public int CompareTo(ConfigKey other)
    {
        var c = string.CompareOrdinal(Kind, other.Kind);
        if (c != 0)
        {
            return c;
        }

        c = string.CompareOrdinal(Namespace, other.Namespace);
        return c != 0 ? c : string.CompareOrdinal(Name, other.Name);
    }

    /// <summary>"VirtualService default/reviews".</summary>
    public override string ToString() => $"{Kind} {Namespace}/{Name}";
}

/// <summary>What an apply or delete did to one resource, in kubectl's words.</summary>
internal enum ConfigAction
{
    Created,
    Configured,
    Unchanged,
    Deleted,
    NotFound,
}

/// <summary>One line of an apply/delete answer: "VirtualService default/reviews configured".</summary>
internal sealed record ConfigChange(ConfigKey Key, ConfigAction Action);
