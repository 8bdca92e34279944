using System.Collections.Concurrent;
using System.Reflection;
using System.Text;
using Skein.Api.Model;

namespace Skein.Api.Loading;

/// <summary>What the loader and writer know about one property of a config record.</summary>
internal sealed record FieldSchema(
    PropertyInfo Property,
    string YamlName,
    Type ValueType,
    bool Required,
    RangeAttribute? Range,
    ValueFormat? Format);

/// <summary>The YAML shape of a config record, read once from its attributes and cached.</summary>
internal sealed class TypeSchema
{
    private static readonly ConcurrentDictionary<Type, TypeSchema> Cache = new();

    private TypeSchema(Type type)
    {
        Type = type;
        var fields = new List<FieldSchema>();
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.SetMethod is null || property.GetCustomAttribute<NotInYamlAttribute>() is not null)
            {
                continue;
            }

            var name = property.GetCustomAttribute<YamlNameAttribute>()?.Name ?? CamelCase(property.Name);
            fields.Add(new FieldSchema(
                property,
                name,
                property.PropertyType,
                property.GetCustomAttribute<RequiredAttribute>() is not null,
                property.GetCustomAttribute<RangeAttribute>(),
                property.GetCustomAttribute<FormatAttribute>()?.Format));
        }

        // Envelope fields first, as people write them.
        Fields = fields.OrderBy(f => EnvelopeOrder(f.YamlName)).ToArray();
        ByName = Fields.ToDictionary(f => f.YamlName, StringComparer.Ordinal);
        OneOfs = type.GetCustomAttributes<OneOfAttribute>().ToArray();
    }

    public Type Type { get; }

    public IReadOnlyList<FieldSchema> Fields { get; }

    public IReadOnlyDictionary<string, FieldSchema> ByName { get; }

    public IReadOnlyList<OneOfAttribute> OneOfs { get; }

    public static TypeSchema For(Type type) => Cache.GetOrAdd(type, static t => new TypeSchema(t));

    public static string CamelCase(string name) =>
        name.Length == 0 ? name : char.ToLowerInvariant(name[0]) + name[1..];

    /// <summary>True for records the binder maps field by field (everything that is not a scalar or a collection).</summary>
    public static bool IsRecord(Type type) =>
        type.IsClass && type != typeof(string) && !type.IsGenericType && !type.IsArray;

    /// <summary>The YAML spelling of every member of an enum, by member.</summary>
    public static IReadOnlyDictionary<Enum, string> EnumNames(Type enumType) => EnumCache.GetOrAdd(enumType, static t =>
    {
        var map = new Dictionary<Enum, string>();
        foreach (var field in t.GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            var wire = field.GetCustomAttribute<WireNameAttribute>()?.Name ?? UpperSnake(field.Name);
            map[(Enum)field.GetValue(null)!] = wire;
        }

        return map;
    });

    private static readonly ConcurrentDictionary<Type, IReadOnlyDictionary<Enum, string>> EnumCache = new();

    /// <summary>RoundRobin → ROUND_ROBIN, Http2 → HTTP2, Consecutive5xx → CONSECUTIVE5XX.</summary>
    public static string UpperSnake(string name)
    {
        var sb = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (i > 0 && char.IsUpper(c) && (char.IsLower(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1]) && char.IsUpper(name[i - 1]))))
            {
                sb.Append('_');
            }

            sb.Append(char.ToUpperInvariant(c));
        }

        return sb.ToString();
    }

    private static int EnvelopeOrder(string name) => name switch
    {
        "apiVersion" => 0,
        "kind" => 1,
        "metadata" => 2,
        "spec" => 3,
        _ => 4,
    };
}
