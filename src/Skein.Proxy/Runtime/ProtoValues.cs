using System.Collections.Frozen;
using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Type.Matcher.V3;
using Skein.Xds.Envoy.Type.V3;

namespace Skein.Proxy.Runtime;

/// <summary>Small conversions from xDS messages to plain values, shared by the compiler's parts.</summary>
internal static class ProtoValues
{
    public static TimeSpan? ToTimeSpan(Duration? d) => d is null ? null : d.ToTimeSpan();

    /// <summary>A timeout where unset means <paramref name="unsetValue"/> and zero means disabled (null).</summary>
    public static TimeSpan? Timeout(Duration? d, TimeSpan? unsetValue)
    {
        if (d is null)
        {
            return unsetValue;
        }

        var t = d.ToTimeSpan();
        if (t < TimeSpan.Zero)
        {
            throw new ConfigException("duration must not be negative");
        }

        return t == TimeSpan.Zero ? null : t;
    }

    public static FractionRuntime Fraction(FractionalPercent? p) => p is null
        ? new FractionRuntime(0, 100)
        : new FractionRuntime(p.Numerator, p.Denominator switch
        {
            FractionalPercent.Types.DenominatorType.TenThousand => 10_000u,
            FractionalPercent.Types.DenominatorType.Million => 1_000_000u,
            _ => 100u,
        });

    public static StringMatch String(StringMatcher m)
    {
        return m.MatchPatternCase switch
        {
            StringMatcher.MatchPatternOneofCase.Exact => new StringMatch(StringMatchKind.Exact, m.Exact, m.IgnoreCase, null),
            StringMatcher.MatchPatternOneofCase.Prefix => NonEmpty(new StringMatch(StringMatchKind.Prefix, m.Prefix, m.IgnoreCase, null)),
            StringMatcher.MatchPatternOneofCase.Suffix => NonEmpty(new StringMatch(StringMatchKind.Suffix, m.Suffix, m.IgnoreCase, null)),
            StringMatcher.MatchPatternOneofCase.Contains => NonEmpty(new StringMatch(StringMatchKind.Contains, m.Contains, m.IgnoreCase, null)),
            StringMatcher.MatchPatternOneofCase.SafeRegex =>
                new StringMatch(StringMatchKind.Regex, m.SafeRegex.Regex, m.IgnoreCase, SafeRegex.FullMatch(m.SafeRegex.Regex, m.IgnoreCase)),
            _ => throw new ConfigException("string matcher has no match pattern"),
        };

        static StringMatch NonEmpty(StringMatch s) =>
            s.Value.Length == 0 ? throw new ConfigException($"{s.Kind.ToString().ToLowerInvariant()} match must not be empty") : s;
    }

    /// <summary>String fields of <c>filter_metadata[key]</c> for each of <paramref name="keys"/> (first wins).</summary>
    public static FrozenDictionary<string, string> Labels(Metadata? metadata, params string[] keys)
    {
        if (metadata is null)
        {
            return FrozenDictionary<string, string>.Empty;
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            if (!metadata.FilterMetadata.TryGetValue(key, out var s))
            {
                continue;
            }

            foreach (var (name, value) in s.Fields)
            {
                var text = value.KindCase switch
                {
                    Value.KindOneofCase.StringValue => value.StringValue,
                    Value.KindOneofCase.NumberValue => value.NumberValue.ToString(CultureInfo.InvariantCulture),
                    Value.KindOneofCase.BoolValue => value.BoolValue ? "true" : "false",
                    _ => null,
                };
                if (text is not null)
                {
                    labels.TryAdd(name, text);
                }
            }
        }

        return labels.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>Reads a <c>DataSource</c> (inline string/bytes, file, or environment variable) as bytes.</summary>
    public static byte[] Bytes(DataSource? source)
    {
        if (source is null)
        {
            return [];
        }

        return source.SpecifierCase switch
        {
            DataSource.SpecifierOneofCase.InlineString => System.Text.Encoding.UTF8.GetBytes(source.InlineString),
            DataSource.SpecifierOneofCase.InlineBytes => source.InlineBytes.ToByteArray(),
            DataSource.SpecifierOneofCase.Filename => ReadFile(source.Filename),
            DataSource.SpecifierOneofCase.EnvironmentVariable =>
                System.Text.Encoding.UTF8.GetBytes(Environment.GetEnvironmentVariable(source.EnvironmentVariable)
                    ?? throw new ConfigException($"environment variable {source.EnvironmentVariable} is not set")),
            _ => [],
        };

        static byte[] ReadFile(string path)
        {
            try
            {
                return File.ReadAllBytes(path);
            }
            catch (IOException e)
            {
                throw new ConfigException($"cannot read {path}: {e.Message}");
            }
            catch (UnauthorizedAccessException e)
            {
                throw new ConfigException($"cannot read {path}: {e.Message}");
            }
        }
    }

    public static string Quote(string s) => "\"" + s + "\"";
}
