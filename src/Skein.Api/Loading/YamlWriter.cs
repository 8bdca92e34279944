using System.Collections;
using System.Globalization;
using Skein.Api.Model;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Skein.Api.Loading;

/// <summary>
/// Writes config records back as YAML, using the same schema as the loader, so that
/// load → write → load gives the same records (what `skein proxy-config` and `apply` print).
/// </summary>
public static class YamlWriter
{
    public static string Write(IEnumerable<Resource> resources)
    {
        var writer = new StringWriter(CultureInfo.InvariantCulture);
        var emitter = new Emitter(writer);
        emitter.Emit(new StreamStart());
        foreach (var resource in resources)
        {
            emitter.Emit(new DocumentStart(null, null, isImplicit: false));
            WriteValue(emitter, resource, resource.GetType());
            emitter.Emit(new DocumentEnd(isImplicit: true));
        }

        emitter.Emit(new StreamEnd());
        return writer.ToString();
    }

    public static string Write(Resource resource) => Write([resource]);

    private static void WriteValue(IEmitter emitter, object value, Type declared)
    {
        var type = Nullable.GetUnderlyingType(declared) ?? declared;
        switch (value)
        {
            case string s:
                emitter.Emit(StringScalar(s));
                return;
            case bool b:
                emitter.Emit(Plain(b ? "true" : "false"));
                return;
            case int or long or uint:
                emitter.Emit(Plain(Convert.ToString(value, CultureInfo.InvariantCulture)!));
                return;
            case double d:
                emitter.Emit(Plain(d.ToString("R", CultureInfo.InvariantCulture)));
                return;
            case Duration duration:
                emitter.Emit(StringScalar(duration.Text));
                return;
            case IntOrString ios:
                emitter.Emit(ios.Number is { } n ? Plain(n.ToString(CultureInfo.InvariantCulture)) : StringScalar(ios.Name ?? ""));
                return;
            case Enum e:
                emitter.Emit(StringScalar(TypeSchema.EnumNames(e.GetType())[e]));
                return;
            case IDictionary map:
                emitter.Emit(new MappingStart());
                var valueType = type.GetGenericArguments()[1];
                foreach (DictionaryEntry entry in map)
                {
                    emitter.Emit(StringScalar((string)entry.Key));
                    WriteValue(emitter, entry.Value!, valueType);
                }

                emitter.Emit(new MappingEnd());
                return;
            case IEnumerable list:
                emitter.Emit(new SequenceStart(null, null, true, SequenceStyle.Block));
                var itemType = type.IsArray ? type.GetElementType()! : type.GetGenericArguments()[0];
                foreach (var item in list)
                {
                    WriteValue(emitter, item, itemType);
                }

                emitter.Emit(new SequenceEnd());
                return;
        }

        emitter.Emit(new MappingStart());
        foreach (var field in TypeSchema.For(value.GetType()).Fields)
        {
            var fieldValue = field.Property.GetValue(value);
            if (fieldValue is null || (fieldValue is string s2 && s2.Length == 0 && field.YamlName is "apiVersion" or "kind"))
            {
                continue;
            }

            emitter.Emit(StringScalar(field.YamlName));
            WriteValue(emitter, fieldValue, field.ValueType);
        }

        emitter.Emit(new MappingEnd());
    }

    private static Scalar Plain(string value) => new(null, null, value, ScalarStyle.Plain, true, false);

    /// <summary>Quotes strings that a YAML reader would otherwise take for a number, boolean or null.</summary>
    private static Scalar StringScalar(string value)
    {
        var ambiguous = value.Length == 0
            || value is "~" or "null" or "Null" or "NULL" or "true" or "True" or "TRUE" or "false" or "False" or "FALSE" or "yes" or "no" or "on" or "off"
            || double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
            || value.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        return new Scalar(null, null, value, ambiguous ? ScalarStyle.DoubleQuoted : ScalarStyle.Any, true, true);
    }
}
