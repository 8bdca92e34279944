using System.Text;
using System.Text.RegularExpressions;

namespace Skein.Xds;

/// <summary>
/// Envoy's <c>safe_regex</c> is RE2. This turns RE2 syntax into .NET's and compiles it with the
/// non-backtracking engine, which has RE2's guarantees (linear time) and RE2's limits (no
/// backreferences, lookaround or atomic groups), so one check serves validation and matching.
/// </summary>
public static class Re2Regex
{
    private static readonly (string Posix, string Net)[] PosixClasses =
    [
        ("[:alnum:]", "0-9A-Za-z"), ("[:alpha:]", "A-Za-z"), ("[:digit:]", "0-9"), ("[:lower:]", "a-z"), ("[:upper:]", "A-Z"),
        ("[:space:]", "\\s"), ("[:xdigit:]", "0-9A-Fa-f"), ("[:word:]", "\\w"), ("[:punct:]", "!-/:-@\\[-`{-~"), ("[:blank:]", " \\t"),
    ];

    /// <summary>Null when <paramref name="pattern"/> is a regex RE2 and Skein accept, else why not.</summary>
    public static string? Check(string pattern)
    {
        if (Unsupported(pattern) is { } construct)
        {
            return construct;
        }

        try
        {
            _ = Compile(pattern);
            return null;
        }
        catch (ArgumentException ex)
        {
            return Explain(ex.Message);
        }
        catch (NotSupportedException ex)
        {
            return Explain(ex.Message);
        }
    }

    /// <summary>Compiles an RE2 pattern; throws <see cref="ArgumentException"/> or <see cref="NotSupportedException"/> when invalid.</summary>
    public static Regex Compile(string pattern, bool ignoreCase = false, bool anchored = false)
    {
        var translated = Translate(pattern);
        if (anchored)
        {
            translated = $"^(?:{translated})$";
        }

        var options = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant | (ignoreCase ? RegexOptions.IgnoreCase : RegexOptions.None);
        return new Regex(translated, options);
    }

    /// <summary>RE2 spellings .NET lacks: (?P&lt;name&gt;, \Q...\E, \pL, [[:alpha:]]; the U flag has no .NET equivalent.</summary>
    internal static string Translate(string pattern)
    {
        var sb = new StringBuilder(pattern.Length + 8);
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                var next = pattern[i + 1];
                if (next == 'Q')
                {
                    var end = pattern.IndexOf("\\E", i + 2, StringComparison.Ordinal);
                    var literal = end < 0 ? pattern[(i + 2)..] : pattern[(i + 2)..end];
                    sb.Append(Regex.Escape(literal));
                    i = end < 0 ? pattern.Length : end + 1;
                    continue;
                }

                if (next is 'p' or 'P' && i + 2 < pattern.Length && pattern[i + 2] != '{')
                {
                    sb.Append('\\').Append(next).Append('{').Append(pattern[i + 2]).Append('}');
                    i += 2;
                    continue;
                }

                if (next is 'C' or 'G' or 'Z' or 'k')
                {
                    throw new NotSupportedException($"\\{next} is not supported by RE2");
                }

                sb.Append(c).Append(next);
                i++;
                continue;
            }

            if (c == '(' && i + 2 < pattern.Length && pattern[i + 1] == '?')
            {
                if (pattern[i + 2] == 'P' && i + 3 < pattern.Length && pattern[i + 3] == '<')
                {
                    sb.Append("(?<");
                    i += 3;
                    continue;
                }

                var close = pattern.IndexOfAny([')', ':'], i + 2);
                if (close > 0 && pattern.AsSpan(i + 2, close - i - 2).Contains('U'))
                {
                    throw new NotSupportedException("the RE2 flag U (ungreedy) is not supported; use lazy quantifiers such as *? instead");
                }
            }

            if (c == '[' && pattern.AsSpan(i).StartsWith("[:"))
            {
                var matched = false;
                foreach (var (posix, net) in PosixClasses)
                {
                    if (pattern.AsSpan(i).StartsWith(posix))
                    {
                        sb.Append(net);
                        i += posix.Length - 1;
                        matched = true;
                        break;
                    }
                }

                if (matched)
                {
                    continue;
                }
            }

            sb.Append(c);
        }

        return sb.ToString();
    }

    /// <summary>Names the first construct RE2 lacks, for a message that says exactly what to change.</summary>
    private static string? Unsupported(string pattern)
    {
        for (var i = 0; i + 1 < pattern.Length; i++)
        {
            if (pattern[i] == '\\')
            {
                if (char.IsAsciiDigit(pattern[i + 1]) && pattern[i + 1] != '0')
                {
                    return $"backreferences (\\{pattern[i + 1]}) are not supported by RE2";
                }

                i++;
                continue;
            }

            if (pattern[i] != '(' || pattern[i + 1] != '?' || i + 2 >= pattern.Length)
            {
                continue;
            }

            var rest = pattern.AsSpan(i + 2);
            if (rest.StartsWith("=") || rest.StartsWith("!") || rest.StartsWith("<=") || rest.StartsWith("<!"))
            {
                return "lookaround is not supported by RE2";
            }

            if (rest.StartsWith(">"))
            {
                return "atomic groups are not supported by RE2";
            }

            if (rest.StartsWith("("))
            {
                return "conditionals are not supported by RE2";
            }
        }

        return null;
    }

    private static string Explain(string message)
    {
        // .NET: "Invalid pattern 'x' at offset 3. Not enough )'s." → "not enough )'s at offset 3".
        var match = Regex.Match(message, @"^Invalid pattern '.*' at offset (\d+)\. (.*?)\.?$", RegexOptions.Singleline);
        if (match.Success)
        {
            var reason = match.Groups[2].Value;
            return $"{char.ToLowerInvariant(reason[0])}{reason[1..]} at offset {match.Groups[1].Value}";
        }

        if (message.Contains("NonBacktracking", StringComparison.Ordinal))
        {
            return "backreferences, lookaround, atomic groups and conditionals are not supported by RE2";
        }

        return message.TrimEnd('.');
    }
}
