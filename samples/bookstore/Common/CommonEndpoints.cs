namespace Skein.Bookstore.Common;

/// <summary>Endpoints every role serves: <c>/healthz</c> and <c>/echo</c>.</summary>
internal static class CommonEndpoints
{
    public static void MapCommon(this IEndpointRouteBuilder endpoints, BookstoreOptions options)
    {
        endpoints.MapGet("/healthz", static context =>
        {
            context.Response.ContentType = "text/plain; charset=utf-8";
            return context.Response.WriteAsync("ok", context.RequestAborted);
        });
        endpoints.Map("/echo/{**rest}", context => EchoAsync(context, options));
    }

    private static Task EchoAsync(HttpContext context, BookstoreOptions options)
    {
        var request = context.Request;
        var query = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, values) in request.Query)
        {
            query[name] = values.ToString();
        }
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, values) in request.Headers)
        {
            headers[name.ToLowerInvariant()] = values.ToString();
        }
        var echo = new EchoResponse
        {
            Instance = options.ServedBy,
            Role = options.RoleName,
            Version = options.Version,
            Method = request.Method,
            Path = (request.PathBase + request.Path).Value ?? "/",
            Protocol = request.Protocol,
            Scheme = request.Scheme,
            Host = request.Host.HasValue ? request.Host.Value : null,
            Query = query,
            Headers = headers,
        };
        return context.Response.WriteAsJsonAsync(echo, BookstoreJson.Default.EchoResponse, cancellationToken: context.RequestAborted);
    }
}
