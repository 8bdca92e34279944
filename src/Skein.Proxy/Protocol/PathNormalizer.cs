using System.Text;

namespace Skein.Proxy.Protocol;

/// <summary>
/// Request path normalisation, done once before routing, authorization and forwarding so that every policy
/// sees the path the application will see. It follows Envoy's connection manager with
/// <c>path_with_escaped_slashes_action: REJECT_REQUEST</c>, <c>normalize_path: true</c> (RFC 3986 section 6:
/// percent-encoded unreserved characters decoded, other escapes upper-cased, <c>.</c> and <c>..</c> resolved, a
/// backslash read as a slash, as Envoy's canonicaliser does) and <c>merge_slashes: true</c>, in that order.
/// The query is left as sent. Paths Envoy refuses are refused: escaped slashes (<c>%2F</c>, <c>%5C</c>) and
/// fragments (<c>#</c>).
/// </summary>
internal static class PathNormalizer
{
    /// <summary>Envoy's response code details for a refused path.</summary>
    public const string RejectedDetails = "path_normalization_failed";

    /// <summary>
    /// Normalises an origin-form request target (<c>/path?query</c>). False when the request must be refused
    /// with 400; targets that are not origin-form (<c>*</c>) come back unchanged.
    /// </summary>
    public static bool TryNormalize(string target, out string normalized)
    {
        normalized = target;
        if (target.Length == 0 || target[0] != '/')
        {
            return true;
        }

        if (target.Contains('#', StringComparison.Ordinal))
        {
            return false;
        }

        var q = target.IndexOf('?', StringComparison.Ordinal);
        var path = q < 0 ? target : target[..q];
        if (!NeedsWork(path))
        {
            return true;
        }

        if (Decode(path) is not { } decoded)
        {
            return false;
        }

        var result = MergeSlashes(RemoveDotSegments(decoded));
        normalized = q < 0 ? result : result + target[q..];
        return true;
    }

    /// <summary>Fast path: nothing to decode, no backslash, no empty or dot segment.</summary>
    private static bool NeedsWork(string path)
    {
        if (path.AsSpan().IndexOfAny('%', '\\') >= 0 || path.Contains("//", StringComparison.Ordinal))
        {
            return true;
        }

        // A dot segment is "/." or "/.." followed by "/" or the end.
        for (var i = path.IndexOf("/.", StringComparison.Ordinal); i >= 0; i = path.IndexOf("/.", i + 1, StringComparison.Ordinal))
        {
            var rest = path.AsSpan(i + 1);
            if (rest is "." or ".." || rest.StartsWith("./") || rest.StartsWith("../"))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Decodes unreserved escapes, upper-cases the others, turns '\' into '/'; null for an escaped slash.</summary>
    private static string? Decode(string path)
    {
        var sb = new StringBuilder(path.Length);
        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            if (c == '\\')
            {
                sb.Append('/');
                continue;
            }

            if (c != '%' || i + 2 >= path.Length || !IsHex(path[i + 1]) || !IsHex(path[i + 2]))
            {
                sb.Append(c); // a stray '%' stays as sent, as Envoy leaves it
                continue;
            }

            var value = (char)((HexValue(path[i + 1]) << 4) | HexValue(path[i + 2]));
            if (value is '/' or '\\')
            {
                return null;
            }

            if (IsUnreserved(value))
            {
                sb.Append(value);
            }
            else
            {
                sb.Append('%').Append(char.ToUpperInvariant(path[i + 1])).Append(char.ToUpperInvariant(path[i + 2]));
            }

            i += 2;
        }

        return sb.ToString();
    }

    /// <summary>RFC 3986 section 5.2.4 on an absolute path; ".." at the root stays at the root.</summary>
    private static string RemoveDotSegments(string path)
    {
        var segments = path[1..].Split('/');
        var output = new List<string>(segments.Length);
        for (var i = 0; i < segments.Length; i++)
        {
            var last = i == segments.Length - 1;
            switch (segments[i])
            {
                case ".":
                    if (last)
                    {
                        output.Add(string.Empty);
                    }

                    break;
                case "..":
                    if (output.Count > 0)
                    {
                        output.RemoveAt(output.Count - 1);
                    }

                    if (last)
                    {
                        output.Add(string.Empty);
                    }

                    break;
                default:
                    output.Add(segments[i]);
                    break;
            }
        }

        return "/" + string.Join('/', output);
    }

    private static string MergeSlashes(string path)
    {
        if (!path.Contains("//", StringComparison.Ordinal))
        {
            return path;
        }

        var sb = new StringBuilder(path.Length);
        foreach (var c in path)
        {
            if (c != '/' || sb.Length == 0 || sb[^1] != '/')
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    private static bool IsUnreserved(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~';

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
