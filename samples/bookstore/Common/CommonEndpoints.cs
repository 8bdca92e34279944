using System.Globalization;
using Microsoft.Extensions.Primitives;

namespace Skein.Bookstore.Common;

/// <summary>Endpoints every role serves: <c>/healthz</c>, <c>/echo</c> and <c>/chaos</c>.</summary>
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
        endpoints.MapGet("/chaos", static (HttpContext context, Chaos chaos) => WriteChaosAsync(context, chaos.Options));
        endpoints.MapPut("/chaos", static (HttpContext context, Chaos chaos) => SetChaosAsync(context, chaos));
    }

    /// <summary>
    /// <c>PUT /chaos?failPercent=30&amp;failStatus=503&amp;delayMs=0&amp;spread=true</c> replaces this instance's
    /// chaos settings (omitted parameters reset to their defaults); <c>PUT /chaos</c> alone heals it.
    /// </summary>
    private static Task SetChaosAsync(HttpContext context, Chaos chaos)
    {
        var query = context.Request.Query;
        if (!TryNumber(query["failPercent"], 0, 0, 100, out var percent)
            || !TryNumber(query["failStatus"], 503, 200, 599, out var status)
            || !TryNumber(query["delayMs"], 0, 0, ChaosOptions.MaxDelayMs, out var delay)
            || query["spread"].ToString() is not ("" or "true" or "false"))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return context.Response.WriteAsync(
                $"failPercent must be 0..100, failStatus 200..599, delayMs 0..{ChaosOptions.MaxDelayMs}, spread true or false\n", context.RequestAborted);
        }

        chaos.Options = new ChaosOptions
        {
            FailPercent = percent,
            FailStatus = (int)status,
            Delay = TimeSpan.FromMilliseconds(delay),
            Spread = query["spread"] == "true",
        };
        return WriteChaosAsync(context, chaos.Options);
    }

    private static Task WriteChaosAsync(HttpContext context, ChaosOptions chaos)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(string.Create(CultureInfo.InvariantCulture,
            $"failPercent={chaos.FailPercent} failStatus={chaos.FailStatus} delayMs={chaos.Delay.TotalMilliseconds} spread={(chaos.Spread ? "true" : "false")}\n"), context.RequestAborted);
    }

    private static bool TryNumber(StringValues text, double fallback, double min, double max, out double value)
    {
        if (StringValues.IsNullOrEmpty(text))
        {
            value = fallback;
            return true;
        }

        return double.TryParse(text.ToString(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out value) && value >= min && value <= max;
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
