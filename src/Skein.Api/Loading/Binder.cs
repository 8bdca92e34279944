using System.Globalization;
using System.Reflection;
using Skein.Api.Model;
using Skein.Api.Validation;

namespace Skein.Api.Loading;

/// <summary>
/// Binds a YAML tree to a config record, checking types, required fields, ranges, formats and
/// oneofs as it goes, and collecting every problem with its file position and field path.
/// </summary>
internal sealed class Binder
{
    private readonly string _file;
    private readonly List<Diagnostic> _diagnostics;
    private readonly Dictionary<string, (int Line, int Column)> _positions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (int Line, int Column)> _keyPositions = new(StringComparer.Ordinal);
    private int _errors;
    private string? _resource;

    // Set when a list item or map value could not be bound and was left null: the records above
    // it then skip their Validate rules, which may assume well-typed items (the binding error
    // already tells the user what is wrong).
    private bool _holes;

    public Binder(string file, List<Diagnostic> diagnostics)
    {
        _file = file;
        _diagnostics = diagnostics;
    }

    public Resource? BindDocument(YNode node)
    {
        _positions.Clear();
        _keyPositions.Clear();
        _resource = null;
        if (node is not YMapping map)
        {
            Error(DiagnosticCodes.WrongType, node, "", "a document must be a mapping with apiVersion, kind, metadata and spec");
            return null;
        }

        foreach (var (key, value) in map.Entries)
        {
            if (key.Value is "apiVersion" or "kind" && value is not YScalar)
            {
                WrongType(value, key.Value, "must be a string");
                return null;
            }
        }

        var apiVersion = ScalarEntry(map, "apiVersion");
        var kind = ScalarEntry(map, "kind");
        if (apiVersion is null || kind is null)
        {
            var missing = apiVersion is null ? "apiVersion" : "kind";
            Error(DiagnosticCodes.MissingField, map, missing, "is required");
            return null;
        }

        var info = KindRegistry.Find(apiVersion.Value, kind.Value);
        if (info is null)
        {
            var known = KindRegistry.FindKind(kind.Value);
            if (known is null)
            {
                var hint = Suggest(kind.Value, KindRegistry.All.Select(k => k.Kind));
                Error(DiagnosticCodes.UnknownKind, kind, "kind", $"unknown kind \"{kind.Value}\"{hint}; Skein reads {string.Join(", ", KindRegistry.All.Select(k => k.Kind))}");
            }
            else
            {
                Error(DiagnosticCodes.UnknownKind, apiVersion, "apiVersion", $"{kind.Value} is not served under \"{apiVersion.Value}\"; use one of {string.Join(", ", known.ApiVersions)}");
            }

            return null;
        }

        var name = map.Entries.FirstOrDefault(e => e.Key.Value == "metadata").Value is YMapping meta ? ScalarEntry(meta, "name")?.Value : null;
        _resource = $"{kind.Value} {name}";
        var resource = (Resource?)BindRecord(map, info.Type, "", static key => key == "status");
        return resource is null ? null : resource with
        {
            Source = new SourceLocation(_file, map.Line, map.Column),
            SourceMap = new SourceMap(_file, new Dictionary<string, (int, int)>(_positions, StringComparer.Ordinal)),
        };
    }

    private object? BindValue(YNode node, Type type, string path, FieldSchema? field)
    {
        _positions[path] = (node.Line, node.Column);
        if (node is YScalar { IsNull: true })
        {
            return null;
        }

        var target = Nullable.GetUnderlyingType(type) ?? type;
        if (target == typeof(string))
        {
            if (node is not YScalar s)
            {
                return WrongType(node, path, "must be a string");
            }

            CheckFormat(field, s.Value, s, path);
            return s.Value;
        }

        if (target == typeof(bool))
        {
            return node is YScalar { Plain: true, Value: "true" or "True" or "TRUE" } ? true
                : node is YScalar { Plain: true, Value: "false" or "False" or "FALSE" } ? false
                : WrongType(node, path, "must be true or false");
        }

        if (target == typeof(int) || target == typeof(long) || target == typeof(uint))
        {
            if (node is not YScalar { Plain: true } n || !long.TryParse(n.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
            {
                return WrongType(node, path, "must be an integer");
            }

            if (!CheckRange(field, number, node, path))
            {
                return null;
            }

            if (target == typeof(int) && number is < int.MinValue or > int.MaxValue || target == typeof(uint) && number is < 0 or > uint.MaxValue)
            {
                Error(DiagnosticCodes.OutOfRange, node, path, "is out of range");
                return null;
            }

            return target == typeof(int) ? (object)(int)number : target == typeof(uint) ? (uint)number : number;
        }

        if (target == typeof(double))
        {
            if (node is not YScalar { Plain: true } d || !double.TryParse(d.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || !double.IsFinite(number))
            {
                return WrongType(node, path, "must be a number");
            }

            return CheckRange(field, number, node, path) ? number : null;
        }

        if (target == typeof(Duration))
        {
            if (node is not YScalar ds || !Duration.TryParse(ds.Value, out var duration))
            {
                return Invalid(node, path, $"invalid duration {Quote(node)}: use a number with a unit (h, m, s, ms, us), e.g. 1.5s, 100ms, 1h");
            }

            if (duration.Value < TimeSpan.Zero)
            {
                return Invalid(node, path, $"duration {ds.Value} must not be negative");
            }

            return duration;
        }

        if (target == typeof(IntOrString))
        {
            if (node is not YScalar ios)
            {
                return WrongType(node, path, "must be a port number or a port name");
            }

            if (ios.Plain && int.TryParse(ios.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var port))
            {
                if (port is < 1 or > 65535)
                {
                    Error(DiagnosticCodes.OutOfRange, node, path, "must be between 1 and 65535");
                    return null;
                }

                return new IntOrString(port, null);
            }

            return new IntOrString(null, ios.Value);
        }

        if (target.IsEnum)
        {
            var names = TypeSchema.EnumNames(target);
            if (node is YScalar es)
            {
                foreach (var (member, wire) in names)
                {
                    if (wire == es.Value)
                    {
                        return member;
                    }
                }
            }

            var hint = node is YScalar e ? Suggest(e.Value, names.Values) : "";
            Error(DiagnosticCodes.InvalidEnum, node, path, $"invalid value {Quote(node)}{hint}: must be one of {string.Join(", ", names.Values)}");
            return null;
        }

        if (target.IsGenericType && target.GetGenericTypeDefinition() == typeof(IReadOnlyList<>))
        {
            return BindList(node, target.GetGenericArguments()[0], path, field);
        }

        if (target.IsGenericType && target.GetGenericTypeDefinition() == typeof(IReadOnlyDictionary<,>))
        {
            return BindMap(node, target.GetGenericArguments()[1], path, field);
        }

        return node is YMapping m ? BindRecord(m, target, path, null) : WrongType(node, path, "must be a mapping (key: value)");
    }

    private object? BindList(YNode node, Type itemType, string path, FieldSchema? field)
    {
        if (node is not YSequence seq)
        {
            return WrongType(node, path, "must be a list");
        }

        var array = Array.CreateInstance(itemType, seq.Items.Count);
        for (var i = 0; i < seq.Items.Count; i++)
        {
            var itemPath = $"{path}[{i}]";
            var value = BindValue(seq.Items[i], itemType, itemPath, field);
            if (value is null)
            {
                _holes = true;
                if (seq.Items[i] is YScalar { IsNull: true })
                {
                    Error(DiagnosticCodes.WrongType, seq.Items[i], itemPath, "list items must not be null");
                }
            }

            array.SetValue(value, i);
        }

        return array;
    }

    private object? BindMap(YNode node, Type valueType, string path, FieldSchema? field)
    {
        if (node is not YMapping map)
        {
            return WrongType(node, path, "must be a mapping (key: value)");
        }

        var dictType = typeof(Dictionary<,>).MakeGenericType(typeof(string), valueType);
        var dict = (System.Collections.IDictionary)Activator.CreateInstance(dictType, StringComparer.Ordinal)!;
        foreach (var (key, value) in map.Entries)
        {
            var entryPath = path + MapKeySegment(key.Value);
            _keyPositions[entryPath] = (key.Line, key.Column);
            if (dict.Contains(key.Value))
            {
                Error(DiagnosticCodes.DuplicateKey, key, entryPath, $"duplicate key \"{key.Value}\"");
                continue;
            }

            if (field?.Format is ValueFormat.Labels)
            {
                Report(Formats.CheckLabelKey(key.Value), key, entryPath);
            }
            else if (field?.Format is { } format && valueType != typeof(string))
            {
                Report(Formats.Check(format, key.Value), key, entryPath);
            }
            else if (field?.Format is ValueFormat.HeaderName)
            {
                Report(Formats.CheckHeaderName(key.Value), key, entryPath);
            }

            // Label and header formats apply to keys; values of label maps are label values.
            var valueField = field?.Format is ValueFormat.HeaderName ? null : field;
            var bound = BindValue(value, valueType, entryPath, valueField);
            if (bound is not null || !valueType.IsValueType)
            {
                dict[key.Value] = bound;
            }

            _holes |= bound is null && !valueType.IsValueType;
        }

        return dict;
    }

    private object? BindRecord(YMapping map, Type type, string path, Func<string, bool>? ignore)
    {
        var schema = TypeSchema.For(type);
        var instance = Activator.CreateInstance(type)!;
        var outerHoles = _holes;
        _holes = false;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var written = new List<string>();
        var errorsBefore = _errors;
        foreach (var (key, value) in map.Entries)
        {
            var fieldPath = path.Length == 0 ? key.Value : $"{path}.{key.Value}";
            _keyPositions[fieldPath] = (key.Line, key.Column);
            if (!seen.Add(key.Value))
            {
                Error(DiagnosticCodes.DuplicateKey, key, fieldPath, $"duplicate key \"{key.Value}\"");
                continue;
            }

            if (!schema.ByName.TryGetValue(key.Value, out var field))
            {
                if (ignore?.Invoke(key.Value) != true)
                {
                    var hint = Suggest(key.Value, schema.Fields.Select(f => f.YamlName));
                    Error(DiagnosticCodes.UnknownField, key, fieldPath, $"unknown field \"{key.Value}\"{hint}");
                }

                continue;
            }

            if (value is YScalar { IsNull: true })
            {
                continue; // "field:" with no value is unset, as in Kubernetes
            }

            written.Add(field.YamlName);
            var bound = BindValue(value, field.ValueType, fieldPath, field);
            if (bound is not null)
            {
                field.Property.SetValue(instance, bound);
            }
        }

        foreach (var field in schema.Fields)
        {
            if (field.Required && !written.Contains(field.YamlName))
            {
                var fieldPath = path.Length == 0 ? field.YamlName : $"{path}.{field.YamlName}";
                Error(DiagnosticCodes.MissingField, map, fieldPath, "is required");
            }
        }

        CheckOneOfs(schema, written, map, path);
        if (instance is IValidatable validatable && !_holes)
        {
            validatable.Validate(new Context(this, path, map, _errors > errorsBefore));
        }

        _holes |= outerHoles;
        return instance;
    }

    private void CheckOneOfs(TypeSchema schema, List<string> written, YMapping map, string path)
    {
        foreach (var oneOf in schema.OneOfs)
        {
            var names = schema.Fields.Where(f => oneOf.Properties.Contains(f.Property.Name)).Select(f => f.YamlName).ToList();
            var set = written.Where(names.Contains).ToList(); // in the order written
            if (set.Count > 1)
            {
                var key = map.Entries.First(e => e.Key.Value == set[1]).Key;
                Error(DiagnosticCodes.OneOfConflict, key, Join(path, set[1]), $"only one of {string.Join(", ", names)} may be set (also got {set[0]})");
            }
            else if (set.Count == 0 && oneOf.Required)
            {
                Error(DiagnosticCodes.MissingField, map, path, $"one of {string.Join(", ", names)} is required");
            }
        }
    }

    private void CheckFormat(FieldSchema? field, string value, YNode node, string path)
    {
        if (field?.Format is { } format and not ValueFormat.HeaderName)
        {
            Report(Formats.Check(format, value), node, path);
        }
    }

    private bool CheckRange(FieldSchema? field, double value, YNode node, string path)
    {
        if (field?.Range is not { } range || (value >= range.Min && value <= range.Max))
        {
            return true;
        }

        var message = range.Max >= int.MaxValue && value < range.Min
            ? $"must be at least {Format(range.Min)}"
            : $"must be between {Format(range.Min)} and {Format(range.Max)}";
        Error(DiagnosticCodes.OutOfRange, node, path, message);
        return false;

        static string Format(double d) => d.ToString(CultureInfo.InvariantCulture);
    }

    private void Report(string? message, YNode node, string path)
    {
        if (message is not null)
        {
            Error(DiagnosticCodes.InvalidFormat, node, path, message);
        }
    }

    private object? WrongType(YNode node, string path, string message)
    {
        var got = node switch
        {
            YSequence => "a list",
            YMapping => "a mapping",
            YScalar { Plain: false } => "a quoted string",
            YScalar s => $"\"{Truncate(s.Value)}\"",
            _ => "something else",
        };
        Error(DiagnosticCodes.WrongType, node, path, $"{message}, got {got}");
        return null;
    }

    private object? Invalid(YNode node, string path, string message)
    {
        Error(DiagnosticCodes.InvalidValue, node, path, message);
        return null;
    }

    private void Error(string code, YNode node, string path, string message) =>
        Add(Severity.Error, code, node.Line, node.Column, path, message);

    private void Add(Severity severity, string code, int line, int column, string path, string message)
    {
        _errors += severity == Severity.Error ? 1 : 0;
        _diagnostics.Add(new Diagnostic(severity, code, new SourceLocation(_file, line, column), path, message) { Resource = _resource });
    }

    private static YScalar? ScalarEntry(YMapping map, string key) =>
        map.Entries.FirstOrDefault(e => e.Key.Value == key).Value as YScalar;

    private static string Quote(YNode node) => node is YScalar s ? $"\"{Truncate(s.Value)}\"" : node is YSequence ? "(a list)" : "(a mapping)";

    private static string Truncate(string s) => s.Length > 60 ? s[..57] + "..." : s;

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    internal static string MapKeySegment(string key) =>
        key.Length > 0 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-') ? "." + key : $"[\"{key}\"]";

    /// <summary>" (did you mean \"route\"?)" when a candidate is close to <paramref name="value"/>.</summary>
    internal static string Suggest(string value, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = string.Equals(candidate, value, StringComparison.OrdinalIgnoreCase) ? 0 : Levenshtein(value.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance < bestDistance)
            {
                (best, bestDistance) = (candidate, distance);
            }
        }

        return best is not null && bestDistance <= Math.Max(2, value.Length / 3) ? $" (did you mean \"{best}\"?)" : "";
    }

    private static int Levenshtein(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 8)
        {
            return int.MaxValue;
        }

        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    /// <summary>Gives a record's Validate method paths relative to itself and turns them into positions.</summary>
    private sealed class Context(Binder binder, string prefix, YMapping map, bool hasBindingErrors) : ValidationContext
    {
        public override bool HasBindingErrors => hasBindingErrors;

        protected override void Report(Severity severity, string relativePath, string message, string? code, bool atKey)
        {
            var path = relativePath.Length == 0 ? prefix
                : prefix.Length == 0 ? relativePath
                : relativePath[0] == '[' ? prefix + relativePath : $"{prefix}.{relativePath}";
            var (line, column) = atKey && binder._keyPositions.TryGetValue(path, out var key) ? key : binder.Locate(path, map);
            binder.Add(severity, code ?? DiagnosticCodes.InvalidValue, line, column, path, message);
        }
    }

    /// <summary>The position of a path, or of its nearest ancestor that was written.</summary>
    private (int Line, int Column) Locate(string path, YNode fallback)
    {
        var current = path;
        while (current.Length > 0)
        {
            if (_positions.TryGetValue(current, out var position))
            {
                return position;
            }

            var cut = Math.Max(current.LastIndexOf('.'), current.LastIndexOf('['));
            current = cut <= 0 ? "" : current[..cut];
        }

        return (fallback.Line, fallback.Column);
    }
}
