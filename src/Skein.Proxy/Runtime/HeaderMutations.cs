using System.Collections.Immutable;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Skein.Proxy.Runtime;

/// <summary>How a header value is added (Envoy's <c>HeaderAppendAction</c>).</summary>
internal enum HeaderAppend
{
    AppendIfExistsOrAdd,
    AddIfAbsent,
    OverwriteIfExistsOrAdd,
}

/// <summary>One header to add or set.</summary>
internal sealed record HeaderAddition(string Name, string Value, HeaderAppend Action, bool KeepEmptyValue);

/// <summary>Headers to remove, then headers to add, at one level (route config, virtual host, route, weighted cluster).</summary>
internal sealed record HeaderMutations(ImmutableArray<string> Remove, ImmutableArray<HeaderAddition> Add)
{
    public static HeaderMutations None { get; } = new([], []);

    public bool IsEmpty => Remove.IsEmpty && Add.IsEmpty;

    /// <summary>Applies the removals, then the additions, to <paramref name="headers"/>.</summary>
    public void ApplyTo(IHeaderDictionary headers)
    {
        foreach (var name in Remove)
        {
            headers.Remove(name);
        }

        foreach (var add in Add)
        {
            if (add.Value.Length == 0 && !add.KeepEmptyValue)
            {
                continue;
            }

            switch (add.Action)
            {
                case HeaderAppend.AddIfAbsent:
                    if (!headers.ContainsKey(add.Name))
                    {
                        headers[add.Name] = add.Value;
                    }

                    break;
                case HeaderAppend.OverwriteIfExistsOrAdd:
                    headers[add.Name] = add.Value;
                    break;
                default:
                    headers[add.Name] = headers.TryGetValue(add.Name, out var existing)
                        ? StringValues.Concat(existing, add.Value)
                        : new StringValues(add.Value);
                    break;
            }
        }
    }
}
