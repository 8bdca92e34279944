using System.Reflection;
using System.Text;
using System.Xml.Linq;
using Skein.Api.Analysis;
using Skein.Api.Loading;
using Skein.Api.Model;

namespace Skein.Api.Documentation;

/// <summary>
/// Generates the README's configuration reference from the model itself (fields, types, doc
/// comments) and the support matrix, so that the reference cannot drift from the code.
/// </summary>
public static class ConfigReference
{
    public static string Generate()
    {
        var docs = LoadDocs();
        var sb = new StringBuilder();
        foreach (var kind in KindRegistry.All)
        {
            sb.Append("### ").Append(kind.Kind).Append('\n').Append('\n');
            sb.Append('`').Append(string.Join("`, `", kind.ApiVersions)).Append("`. ");
            sb.Append(Summary(docs, "T:" + kind.Type.FullName)).Append('\n').Append('\n');
            sb.Append("| field | type | meaning | default | supported |\n|---|---|---|---|---|\n");
            var specType = kind.Type.BaseType!.GetGenericArguments()[0];
            var seen = new Dictionary<Type, string>();
            Rows(sb, docs, kind.Kind, specType, "spec", seen, depth: 0);
            sb.Append('\n');
        }

        return sb.ToString();
    }

    private static void Rows(StringBuilder sb, Dictionary<string, string> docs, string kind, Type type, string path, Dictionary<Type, string> seen, int depth)
    {
        seen[type] = path;
        foreach (var field in TypeSchema.For(type).Fields)
        {
            var fieldPath = $"{path}.{field.YamlName}";
            var (typeName, element) = Describe(field.ValueType);
            var support = FieldSupportMatrix.For(kind, fieldPath);
            var meaning = Summary(docs, $"P:{field.Property.DeclaringType!.FullName}.{field.Property.Name}");
            var rules = new List<string>();
            if (field.Required)
            {
                rules.Add("required");
            }

            if (field.Range is { } range)
            {
                rules.Add(range.Max >= int.MaxValue ? $"≥ {range.Min}" : $"{range.Min}..{range.Max}");
            }

            if (rules.Count > 0)
            {
                meaning = $"{meaning} ({string.Join(", ", rules)})";
            }

            var reuse = element is not null && seen.TryGetValue(element, out var earlier) ? earlier : null;
            if (reuse is not null)
            {
                meaning += $" Same fields as `{reuse}`.";
            }

            var level = support.Level switch
            {
                SupportLevel.Yes => "yes",
                SupportLevel.Partial => "partial",
                SupportLevel.No => "no",
                _ => "n/a",
            };
            if (support.Note is not null)
            {
                level += $": {support.Note}";
            }

            sb.Append("| `").Append(fieldPath).Append("` | ").Append(typeName).Append(" | ").Append(Cell(meaning))
              .Append(" | ").Append(Cell(support.Default ?? "")).Append(" | ").Append(Cell(level)).Append(" |\n");

            if (element is not null && reuse is null && depth < 10)
            {
                var suffix = field.ValueType.IsGenericType && field.ValueType.GetGenericTypeDefinition() == typeof(IReadOnlyList<>) ? "[]"
                    : field.ValueType.IsGenericType && field.ValueType.GetGenericTypeDefinition() == typeof(IReadOnlyDictionary<,>) ? ".{}"
                    : "";
                Rows(sb, docs, kind, element, fieldPath + suffix, seen, depth + 1);
            }
        }
    }

    /// <summary>A readable type name, and the record type whose fields follow (if any).</summary>
    private static (string Name, Type? Element) Describe(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IReadOnlyList<>))
        {
            var (inner, element) = Describe(type.GetGenericArguments()[0]);
            return ($"list of {inner}", element);
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IReadOnlyDictionary<,>))
        {
            var (inner, element) = Describe(type.GetGenericArguments()[1]);
            return ($"map of {inner}", element);
        }

        if (type.IsEnum)
        {
            return (string.Join(" \\| ", TypeSchema.EnumNames(type).Values), null);
        }

        return type switch
        {
            _ when type == typeof(string) => ("string", null),
            _ when type == typeof(bool) => ("bool", null),
            _ when type == typeof(int) || type == typeof(long) || type == typeof(uint) => ("integer", null),
            _ when type == typeof(double) => ("number", null),
            _ when type == typeof(Duration) => ("duration", null),
            _ when type == typeof(IntOrString) => ("port number or name", null),
            _ => ("object", type),
        };
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static string Summary(Dictionary<string, string> docs, string member) => docs.TryGetValue(member, out var text) ? text : "";

    private static Dictionary<string, string> LoadDocs()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var path = Path.ChangeExtension(typeof(ConfigReference).Assembly.Location, ".xml");
        if (!File.Exists(path))
        {
            return result;
        }

        foreach (var member in XDocument.Load(path).Descendants("member"))
        {
            var summary = member.Element("summary");
            if (member.Attribute("name")?.Value is { } name && summary is not null)
            {
                var text = string.Concat(summary.Nodes().Select(n => n is XElement e ? (e.Attribute("cref")?.Value.Split('.').Last() ?? e.Attribute("name")?.Value ?? e.Value) : n.ToString()));
                result[name] = string.Join(' ', text.Split((char[])[' ', '\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries));
            }
        }

        return result;
    }
}
