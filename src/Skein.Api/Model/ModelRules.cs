using System.Globalization;
using Skein.Api.Validation;

namespace Skein.Api.Model;

/// <summary>
/// Checks shared by the records' <see cref="IValidatable.Validate"/> methods, so that one rule
/// (a duration of at least 1ms, an exportTo list, a weight split) reads the same everywhere.
/// </summary>
internal static class ModelRules
{
    private static readonly TimeSpan OneMillisecond = TimeSpan.FromMilliseconds(1);

    /// <summary>"route[2]": a list item, as the binder spells paths.</summary>
    public static string Item(string list, int index) => $"{list}[{index}]";

    /// <summary>"headers.x-user" or "headers[\"@request.auth.claims.sub\"]": a map entry, as the binder spells paths.</summary>
    public static string Entry(string map, string key) =>
        key.Length > 0 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-') ? $"{map}.{key}" : $"{map}[\"{key}\"]";

    /// <summary>Istio's rule for most durations: at least 1ms, in whole milliseconds.</summary>
    public static void AtLeastOneMillisecond(ValidationContext context, string path, Duration? duration)
    {
        if (duration is not { } d)
        {
            return;
        }

        if (d.Value < OneMillisecond)
        {
            context.Error(path, "must be at least 1ms");
        }
        else if (d.Value.Ticks % TimeSpan.TicksPerMillisecond != 0)
        {
            context.Error(path, "must be a whole number of milliseconds");
        }
    }

    /// <summary>A lower-case RFC 1123 label: up to 63 of a-z, 0-9 and '-', starting and ending with a letter or digit.</summary>
    public static bool IsDnsLabel(string value)
    {
        if (value.Length is 0 or > 63 || value[0] == '-' || value[^1] == '-')
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A fully qualified host name: dot-separated labels of letters, digits and '-', no wildcard.</summary>
    public static bool IsFqdn(string value)
    {
        var name = value.EndsWith('.') ? value[..^1] : value;
        if (name.Length is 0 or > 253)
        {
            return false;
        }

        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-')
            {
                return false;
            }

            foreach (var c in label)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c == '-'))
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>An IP address without a prefix length, by the loader's own IpAddress format check.</summary>
    public static bool IsIpAddress(string value) => Formats.Check(ValueFormat.IpAddress, value) is null;

    /// <summary>A port number written as a string (AuthorizationPolicy ports, destination.port values).</summary>
    public static bool IsPortString(string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535;

    /// <summary>
    /// Istio's port-name rule for WorkloadEntry and Workload ports: letters, digits and '-',
    /// starting and ending with a letter or digit, shorter than 63 characters.
    /// </summary>
    public static bool IsPortName(string value)
    {
        if (value.Length is 0 or >= 63 || value[0] == '-' || value[^1] == '-')
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Istio's header-name rule for header operations and CORS: letters, digits, '-' and '_' (any case).</summary>
    public static bool IsHeaderToken(string value)
    {
        if (value.Length == 0)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// exportTo: "." (this namespace), "*" (all), "~" (none, only where <paramref name="allowNone"/>)
    /// or namespace names; "*" and "~" stand alone and nothing may repeat.
    /// </summary>
    public static void ExportTo(ValidationContext context, IReadOnlyList<string>? exportTo, bool allowNone)
    {
        if (exportTo is null)
        {
            return;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < exportTo.Count; i++)
        {
            var value = exportTo[i];
            var path = Item("exportTo", i);
            if (!seen.Add(value))
            {
                context.Error(path, $"duplicate exportTo value \"{value}\"");
                continue;
            }

            if (value == "~" && !allowNone)
            {
                context.Error(path, "\"~\" (export to no namespace) is not allowed for this kind");
            }
            else if (value is not ("." or "*" or "~") && !IsDnsLabel(value))
            {
                context.Error(path, $"invalid exportTo value \"{value}\": must be \".\", \"*\" or a namespace name");
            }
            else if (value is "*" or "~" && exportTo.Count > 1)
            {
                context.Error(path, $"\"{value}\" cannot be combined with other exportTo values");
            }
        }
    }

    /// <summary>Gateway references: "mesh", "name" or "namespace/name".</summary>
    public static void GatewayNames(ValidationContext context, string path, IReadOnlyList<string>? gateways)
    {
        if (gateways is null)
        {
            return;
        }

        for (var i = 0; i < gateways.Count; i++)
        {
            var parts = gateways[i].Split('/');
            var valid = parts.Length <= 2 && parts.All(p => p.Length > 0) &&
                (parts.Length == 1 ? Formats.Check(ValueFormat.DnsName, parts[0]) is null
                    : IsDnsLabel(parts[0]) && Formats.Check(ValueFormat.DnsName, parts[1]) is null);
            if (!valid)
            {
                context.Error(Item(path, i), $"invalid gateway \"{gateways[i]}\": must be \"mesh\", \"name\" or \"namespace/name\"");
            }
        }
    }

    /// <summary>
    /// With more than one destination the weights should add up to 100 (an absent weight counts as 0).
    /// Istio since 1.22 splits in proportion when they do not, so that is a warning; all zero is an error.
    /// A single destination takes all traffic whatever its weight.
    /// </summary>
    public static void WeightsSumTo100(ValidationContext context, string path, IReadOnlyList<int?> weights)
    {
        if (weights.Count < 2 || context.HasBindingErrors)
        {
            return;
        }

        var total = weights.Sum(w => (long)(w ?? 0));
        if (total == 0)
        {
            context.Error(path, "weights must not all be 0");
        }
        else if (total != 100)
        {
            context.Warning(path, $"weights sum to {total}, not 100; traffic is split in proportion", DiagnosticCodes.WeightsNotHundred);
        }
    }

    /// <summary>Reports empty strings in a list ("" never matches what the user meant).</summary>
    public static void NoEmptyValues(ValidationContext context, string path, IReadOnlyList<string>? values)
    {
        if (values is null)
        {
            return;
        }

        for (var i = 0; i < values.Count; i++)
        {
            if (values[i].Length == 0)
            {
                context.Error(Item(path, i), "must not be empty");
            }
        }
    }

    /// <summary>The "field is deprecated, use X" warning Istio prints for deprecated fields.</summary>
    public static void Deprecated(ValidationContext context, string path, bool isSet, string replacement)
    {
        if (isSet)
        {
            context.Warning(path, $"deprecated: use {replacement} instead");
        }
    }

    /// <summary>Port names and numbers must each be unique within one list of ports.</summary>
    public static void UniquePorts<T>(ValidationContext context, IReadOnlyList<T>? ports, Func<T, string?> name, Func<T, int?> number, string numberField)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var numbers = new HashSet<int>();
        for (var i = 0; i < (ports?.Count ?? 0); i++)
        {
            var path = Item("ports", i);
            if (name(ports![i]) is { } portName && !names.Add(portName))
            {
                context.Error(path + ".name", $"duplicate port name \"{portName}\"");
            }

            if (number(ports[i]) is { } portNumber && !numbers.Add(portNumber))
            {
                context.Error($"{path}.{numberField}", $"duplicate port {portNumber}");
            }
        }
    }
}
