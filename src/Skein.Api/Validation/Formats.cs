using System.Net;
using System.Text.RegularExpressions;
using Skein.Api.Model;

namespace Skein.Api.Validation;

/// <summary>Syntax checks for string values; each returns null when valid, else the message.</summary>
public static partial class Formats
{
    public static string? Check(ValueFormat format, string value) => format switch
    {
        ValueFormat.Regex => CheckRegex(value),
        ValueFormat.Cidr => CheckCidr(value),
        ValueFormat.IpAddress => IPAddress.TryParse(value, out _) ? null : $"\"{value}\" is not an IP address",
        ValueFormat.Host => CheckHost(value),
        ValueFormat.DnsName => CheckDnsName(value),
        ValueFormat.Labels => CheckLabelValue(value),
        ValueFormat.HeaderName => CheckHeaderName(value),
        ValueFormat.HttpMethod => MethodPattern().IsMatch(value) ? null : $"\"{value}\" is not an HTTP method (use upper case, e.g. GET; \"*\" may start or end it)",
        _ => null,
    };

    /// <summary>
    /// Envoy evaluates regexes with RE2, which has no backreferences, lookaround, atomic groups,
    /// possessive quantifiers or conditionals; the proxy matches them the same way (Re2Regex).
    /// </summary>
    public static string? CheckRegex(string pattern)
    {
        for (var i = 1; i < pattern.Length; i++)
        {
            // .NET would read "a*+" as a quantified quantifier; RE2 rejects possessive quantifiers.
            if (pattern[i] == '+' && pattern[i - 1] is '*' or '+' or '?' or '}' && (i < 2 || pattern[i - 2] != '\\'))
            {
                return $"invalid regex \"{pattern}\": possessive quantifiers are not supported by RE2";
            }
        }

        return Skein.Xds.Re2Regex.Check(pattern) is { } reason ? $"invalid regex \"{pattern}\": {reason}" : null;
    }

    public static string? CheckCidr(string value)
    {
        var slash = value.IndexOf('/');
        var address = slash < 0 ? value : value[..slash];
        if (!IPAddress.TryParse(address, out var ip) || address.Contains('%'))
        {
            return $"\"{value}\" is not an IP address or CIDR block";
        }

        if (slash >= 0)
        {
            var max = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
            if (!int.TryParse(value.AsSpan(slash + 1), System.Globalization.NumberStyles.None, null, out var bits) || bits > max)
            {
                return $"\"{value}\" has an invalid prefix length (0..{max})";
            }
        }

        return null;
    }

    public static string? CheckHost(string value)
    {
        if (value == "*" || IPAddress.TryParse(value, out _))
        {
            return null;
        }

        var name = value.StartsWith("*.", StringComparison.Ordinal) ? value[2..] : value;
        return name.Length is > 0 and <= 253 && HostPattern().IsMatch(name)
            ? null
            : $"\"{value}\" is not a valid host name (DNS name, optionally starting with \"*.\", or \"*\")";
    }

    public static string? CheckDnsName(string value) =>
        value.Length is > 0 and <= 253 && DnsNamePattern().IsMatch(value)
            ? null
            : $"\"{value}\" is not a valid name (lower case letters, digits, '-' and '.', starting and ending with a letter or digit)";

    public static string? CheckLabelKey(string key)
    {
        var slash = key.IndexOf('/');
        var name = slash < 0 ? key : key[(slash + 1)..];
        if (slash >= 0 && CheckDnsName(key[..slash]) is not null)
        {
            return $"label key \"{key}\" has an invalid prefix";
        }

        return name.Length is > 0 and <= 63 && LabelPattern().IsMatch(name)
            ? null
            : $"label key \"{key}\" is invalid (up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)";
    }

    public static string? CheckLabelValue(string value) =>
        value.Length == 0 || (value.Length <= 63 && LabelPattern().IsMatch(value))
            ? null
            : $"label value \"{value}\" is invalid (up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)";

    public static string? CheckHeaderName(string value) =>
        value.Length > 0 && HeaderPattern().IsMatch(value)
            ? value.Any(char.IsUpper) ? $"header name \"{value}\" must be lower case" : null
            : $"\"{value}\" is not a valid header name";

    [GeneratedRegex(@"^(?:\*|\*?[A-Z][A-Z_-]*\*?)$")]
    private static partial Regex MethodPattern();

    [GeneratedRegex(@"^(?:[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$")]
    private static partial Regex HostPattern();

    [GeneratedRegex(@"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")]
    private static partial Regex DnsNamePattern();

    [GeneratedRegex(@"^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$")]
    private static partial Regex LabelPattern();

    [GeneratedRegex(@"^:?[!#$%&'*+.^_`|~0-9A-Za-z-]+$")]
    private static partial Regex HeaderPattern();
}
