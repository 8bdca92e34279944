namespace Skein.Bookstore.Common;

/// <summary>
/// The request headers the bookstore copies from an incoming request to the calls it makes,
/// as Istio's bookinfo does, so traces join up and header-based routing (end-user) works
/// on every hop.
/// </summary>
internal static class Propagation
{
    public const string EndUser = "end-user";

    /// <summary>
    /// For the app's HTTP clients: .NET would otherwise add a <c>traceparent</c> of its own (from the ASP.NET Core
    /// activity) whenever the incoming request had none, starting traces the mesh never saw. The app forwards
    /// exactly the headers it received, as bookinfo does; the sidecars own the trace context.
    /// </summary>
    public static readonly System.Diagnostics.DistributedContextPropagator NoOutput =
        System.Diagnostics.DistributedContextPropagator.CreateNoOutputPropagator();

    public static readonly string[] Headers =
    [
        "x-request-id",
        "traceparent",
        "tracestate",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "x-b3-sampled",
        "x-b3-flags",
        "b3",
        EndUser,
        "cookie",
    ];

    /// <summary>The propagated headers present on <paramref name="headers"/>, names lower-case.</summary>
    public static Dictionary<string, string> Collect(IHeaderDictionary headers)
    {
        var found = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in Headers)
        {
            if (headers.TryGetValue(name, out var values) && values.Count > 0)
            {
                found[name] = name == "cookie" ? string.Join("; ", values.ToArray()) : values.ToString();
            }
        }
        return found;
    }

    /// <summary>True when a value can go into a header as is (no control characters).</summary>
    public static bool IsHeaderSafe(string value)
    {
        foreach (var c in value)
        {
            if (char.IsControl(c))
            {
                return false;
            }
        }
        return value.Length is > 0 and <= 256;
    }
}
