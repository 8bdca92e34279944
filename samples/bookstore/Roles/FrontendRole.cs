using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Skein.Bookstore.Common;

namespace Skein.Bookstore.Roles;

/// <summary>
/// The frontend (bookinfo's "productpage"): <c>GET /</c> renders the books from catalog and
/// the reviews of one book (<c>?id=</c>, default 1) from reviews; <c>GET /api/product/{id}</c>
/// answers the same as JSON. A failing upstream still gives 200, with "catalog unavailable"
/// or "reviews unavailable" and the upstream status in <c>x-upstream-*-status</c> (0 when no
/// answer came). The propagated headers travel to both calls; <c>end-user</c> comes from the
/// request, else from <c>?user=NAME</c> (which also sets a <c>user</c> cookie), else from that cookie.
/// </summary>
internal sealed partial class FrontendRole(BookstoreOptions options, TimeProvider time, ILogger<FrontendRole> logger) : IRole, IDisposable
{
    public const string ReviewsStatusHeader = "x-upstream-reviews-status";
    public const string ReviewsServedByHeader = "x-upstream-reviews-served-by";
    public const string CatalogStatusHeader = "x-upstream-catalog-status";
    public const int DefaultProductId = 1;

    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(1),
        ConnectTimeout = options.UpstreamTimeout,
        AllowAutoRedirect = false,
        UseCookies = false,
        ActivityHeadersPropagator = Propagation.NoOutput,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public static void AddTo(IServiceCollection services) => services.AddSingleton<IRole, FrontendRole>();

    public void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", PageAsync);
        endpoints.MapGet("/api/product/{id}", ProductAsync);
    }

    public void Dispose() => _http.Dispose();

    private async Task PageAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var id = DefaultProductId;
        if (context.Request.Query.TryGetValue("id", out var idText)
            && (!int.TryParse(idText.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out id) || id <= 0))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync($"'{WebUtility.HtmlEncode(idText.ToString())}' is not a product id\n", ct);
            return;
        }

        var headers = OutgoingHeaders(context, rememberUser: true);
        var booksCall = GetJsonAsync(options.CatalogUrl, "books", BookstoreJson.Default.BookArray, headers, ct);
        var reviewsCall = GetJsonAsync(options.ReviewsUrl, $"reviews/{id}", BookstoreJson.Default.ReviewsResponse, headers, ct);
        var books = await booksCall;
        var reviews = await reviewsCall;

        SetUpstreamHeaders(context, books.Status, reviews);
        context.Response.ContentType = "text/html; charset=utf-8";
        headers.TryGetValue(Propagation.EndUser, out var user);
        await context.Response.WriteAsync(RenderPage(id, books, reviews, user), ct);
    }

    private async Task ProductAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var text = context.Request.RouteValues["id"] as string;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id <= 0)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsJsonAsync(new ErrorResponse($"'{text}' is not a product id"), BookstoreJson.Default.ErrorResponse, cancellationToken: ct);
            return;
        }

        var headers = OutgoingHeaders(context, rememberUser: false);
        var bookCall = GetJsonAsync(options.CatalogUrl, $"books/{id}", BookstoreJson.Default.Book, headers, ct);
        var reviewsCall = GetJsonAsync(options.ReviewsUrl, $"reviews/{id}", BookstoreJson.Default.ReviewsResponse, headers, ct);
        var book = await bookCall;
        var reviews = await reviewsCall;

        SetUpstreamHeaders(context, book.Status, reviews);
        if (book.Status == StatusCodes.Status404NotFound)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            await context.Response.WriteAsJsonAsync(new ErrorResponse($"no book with id {id}"), BookstoreJson.Default.ErrorResponse, cancellationToken: ct);
            return;
        }

        var value = reviews.Value;
        Dictionary<string, int>? ratings = null;
        string? color = null;
        if (value is not null)
        {
            foreach (var review in value.Reviews)
            {
                if (review.Rating is { } rating)
                {
                    (ratings ??= new Dictionary<string, int>(StringComparer.Ordinal))[review.Reviewer] = rating.Stars;
                    color = rating.Color;
                }
            }
        }
        var response = new ProductResponse
        {
            Book = book.Value,
            CatalogError = book.Value is null ? "catalog unavailable" : null,
            Reviews = new ProductReviews
            {
                Status = reviews.Status,
                Version = value?.Version,
                Ratings = ratings,
                Color = color,
                Reviews = value?.Reviews,
                ServedBy = reviews.ServedBy,
                Error = value is null ? "reviews unavailable" : null,
                RatingsError = value?.RatingsError,
                Propagated = value?.Propagated,
            },
        };
        await context.Response.WriteAsJsonAsync(response, BookstoreJson.Default.ProductResponse, cancellationToken: ct);
    }

    /// <summary>The propagated headers of the request, with <c>end-user</c> filled from the query or cookie when absent.</summary>
    private static Dictionary<string, string> OutgoingHeaders(HttpContext context, bool rememberUser)
    {
        var headers = Propagation.Collect(context.Request.Headers);
        if (headers.ContainsKey(Propagation.EndUser))
        {
            return headers;
        }
        var query = context.Request.Query["user"].ToString();
        if (query.Length > 0 && Propagation.IsHeaderSafe(query))
        {
            headers[Propagation.EndUser] = query;
            if (rememberUser)
            {
                context.Response.Cookies.Append("user", query, new CookieOptions { Path = "/", SameSite = SameSiteMode.Lax, HttpOnly = true });
            }
        }
        else if (context.Request.Cookies.TryGetValue("user", out var cookie) && Propagation.IsHeaderSafe(cookie))
        {
            headers[Propagation.EndUser] = cookie;
        }
        return headers;
    }

    private static void SetUpstreamHeaders<T>(HttpContext context, int catalogStatus, Upstream<T> reviews)
        where T : class
    {
        var response = context.Response.Headers;
        response[CatalogStatusHeader] = catalogStatus.ToString(CultureInfo.InvariantCulture);
        response[ReviewsStatusHeader] = reviews.Status.ToString(CultureInfo.InvariantCulture);
        if (reviews.ServedBy is not null)
        {
            response[ReviewsServedByHeader] = reviews.ServedBy;
        }
    }

    /// <summary>One upstream call's outcome: the status (0 when no answer came) and the body when it was a good one.</summary>
    private readonly record struct Upstream<T>(int Status, T? Value, string? ServedBy)
        where T : class;

    private async Task<Upstream<T>> GetJsonAsync<T>(
        Uri baseUrl, string path, JsonTypeInfo<T> type, Dictionary<string, string> headers, CancellationToken cancellationToken)
        where T : class
    {
        var url = new Uri(baseUrl.AbsoluteUri.TrimEnd('/') + "/" + path);
        using var timeout = new CancellationTokenSource(options.UpstreamTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        var status = 0;
        string? servedBy = null;
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            status = (int)response.StatusCode;
            servedBy = response.Headers.TryGetValues(BookstoreMiddleware.ServedByHeader, out var values) ? string.Join(",", values) : null;
            if (!response.IsSuccessStatusCode)
            {
                Log.UpstreamFailed(logger, url, status, "status");
                return new Upstream<T>(status, null, servedBy);
            }
            var value = await response.Content.ReadFromJsonAsync(type, linked.Token);
            return new Upstream<T>(status, value, servedBy);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Log.UpstreamFailed(logger, url, status, "timeout");
        }
        catch (HttpRequestException e)
        {
            Log.UpstreamFailed(logger, url, status, e.Message);
        }
        catch (JsonException e)
        {
            Log.UpstreamFailed(logger, url, status, "bad JSON: " + e.Message);
        }
        return new Upstream<T>(status, null, servedBy);
    }

    private string RenderPage(int id, Upstream<Book[]> books, Upstream<ReviewsResponse> reviews, string? user)
    {
        var html = new StringBuilder(2048);
        html.Append("<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Bookstore</title></head>\n<body>\n<h1>Bookstore</h1>\n");
        if (user is not null)
        {
            html.Append("<p class=\"user\">Signed in as ").Append(Encode(user)).Append("</p>\n");
        }

        html.Append("<h2>Books</h2>\n");
        var title = $"book {id}";
        if (books.Value is { } list)
        {
            html.Append("<ul class=\"books\">\n");
            foreach (var book in list)
            {
                if (book.Id == id)
                {
                    title = book.Title;
                }
                html.Append("<li><a href=\"/?id=").Append(book.Id).Append("\">").Append(Encode(book.Title)).Append("</a> by ")
                    .Append(Encode(book.Author)).Append(" (").Append(book.Year).Append(")</li>\n");
            }
            html.Append("</ul>\n");
        }
        else
        {
            html.Append("<p class=\"error\">catalog unavailable</p>\n");
        }

        html.Append("<h2>Reviews of ").Append(Encode(title)).Append("</h2>\n");
        if (reviews.Value is { } value)
        {
            html.Append("<p class=\"served\">served by reviews-").Append(Encode(value.Version)).Append("</p>\n");
            foreach (var review in value.Reviews)
            {
                html.Append("<blockquote><p>").Append(Encode(review.Text)).Append("</p><footer>").Append(Encode(review.Reviewer));
                if (review.Rating is { } rating)
                {
                    var stars = Math.Clamp(rating.Stars, 0, 5);
                    html.Append(" <span class=\"stars\" style=\"color: ").Append(Encode(rating.Color)).Append("\" title=\"")
                        .Append(stars).Append(" of 5 stars\">").Append('★', stars).Append('☆', 5 - stars).Append("</span>");
                }
                html.Append("</footer></blockquote>\n");
            }
            if (value.RatingsError is not null)
            {
                html.Append("<p class=\"error\">").Append(Encode(value.RatingsError)).Append("</p>\n");
            }
        }
        else
        {
            html.Append("<p class=\"error\">reviews unavailable</p>\n");
        }

        html.Append("<hr><p class=\"instance\"><small>frontend ").Append(Encode(options.ServedBy)).Append("</small></p>\n</body>\n</html>\n");
        return html.ToString();
    }

    private static string Encode(string text) => WebUtility.HtmlEncode(text);

    private static partial class Log
    {
        [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "upstream {Url} failed ({Status}): {Reason}")]
        public static partial void UpstreamFailed(ILogger logger, Uri url, int status, string reason);
    }
}
