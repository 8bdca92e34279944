using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using Skein.Bookstore.Common;
using Skein.Bookstore.Protos;

namespace Skein.Bookstore.Roles;

/// <summary>
/// Reviews, in three versions as in bookinfo: v1 shows no ratings; v2 and v3 ask ratings
/// over gRPC (h2c) and show black (v2) or red (v3) stars. <c>GET /reviews/{id}</c> answers
/// <c>{ id, version, reviews: [...] }</c> with header <c>x-version</c>.
/// </summary>
internal sealed partial class ReviewsRole(BookstoreOptions options, TimeProvider time, ILogger<ReviewsRole> logger) : IRole, IDisposable
{
    public const string VersionHeader = "x-version";

    private static readonly (string Reviewer, string Text)[] Texts =
    [
        ("Reviewer1", "An extremely entertaining read. The slapstick humour is refreshing!"),
        ("Reviewer2", "Absolutely fun and entertaining, though it lacks thematic depth compared to the author's other works."),
    ];

    private readonly GrpcChannel? _channel = options.Version == "v1" ? null : CreateChannel(options);

    public static void AddTo(IServiceCollection services) => services.AddSingleton<IRole, ReviewsRole>();

    public void MapEndpoints(IEndpointRouteBuilder endpoints) => endpoints.MapGet("/reviews/{id}", GetReviewsAsync);

    public void Dispose() => _channel?.Dispose();

    private async Task GetReviewsAsync(HttpContext context)
    {
        var text = context.Request.RouteValues["id"] as string;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id <= 0)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsJsonAsync(new ErrorResponse($"'{text}' is not a product id"), BookstoreJson.Default.ErrorResponse, cancellationToken: context.RequestAborted);
            return;
        }

        var propagated = Propagation.Collect(context.Request.Headers);
        IReadOnlyDictionary<string, int>? stars = null;
        string? ratingsError = null;
        string? ratingsServedBy = null;
        if (_channel is not null)
        {
            (stars, ratingsServedBy, ratingsError) = await GetRatingsAsync(_channel, id, propagated, context.RequestAborted);
        }

        var color = options.Version == "v3" ? "red" : "black";
        var reviews = new Review[Texts.Length];
        for (var i = 0; i < Texts.Length; i++)
        {
            var (reviewer, body) = Texts[i];
            reviews[i] = new Review
            {
                Reviewer = reviewer,
                Text = body,
                Rating = stars is not null && stars.TryGetValue(reviewer, out var n) ? new Rating { Stars = n, Color = color } : null,
            };
        }

        context.Response.Headers[VersionHeader] = options.Version;
        var response = new ReviewsResponse
        {
            Id = id,
            Version = options.Version,
            Reviews = reviews,
            RatingsError = ratingsError,
            RatingsServedBy = ratingsServedBy,
            Propagated = propagated,
        };
        await context.Response.WriteAsJsonAsync(response, BookstoreJson.Default.ReviewsResponse, cancellationToken: context.RequestAborted);
    }

    private async Task<(IReadOnlyDictionary<string, int>? Stars, string? ServedBy, string? Error)> GetRatingsAsync(
        GrpcChannel channel, int productId, Dictionary<string, string> propagated, CancellationToken cancellationToken)
    {
        var metadata = new Metadata();
        foreach (var (name, value) in propagated)
        {
            metadata.Add(name, value);
        }
        var client = new Protos.Ratings.RatingsClient(channel);
        var deadline = time.GetUtcNow().UtcDateTime + options.UpstreamTimeout;
        try
        {
            using var call = client.GetRatingsAsync(new RatingsRequest { ProductId = productId }, metadata, deadline, cancellationToken);
            var headers = await call.ResponseHeadersAsync;
            var reply = await call.ResponseAsync;
            return (reply.Ratings, headers.GetValue(BookstoreMiddleware.ServedByHeader), null);
        }
        catch (RpcException e) when (!cancellationToken.IsCancellationRequested)
        {
            Log.RatingsFailed(logger, e.StatusCode, e.Status.Detail);
            return (null, null, "ratings unavailable");
        }
    }

    private static GrpcChannel CreateChannel(BookstoreOptions options) =>
        GrpcChannel.ForAddress(options.RatingsUrl, new GrpcChannelOptions
        {
            // http:// means HTTP/2 with prior knowledge (h2c), which is what the ratings role serves.
            HttpHandler = new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(1),
                ConnectTimeout = options.UpstreamTimeout,
                EnableMultipleHttp2Connections = true,
                ActivityHeadersPropagator = Propagation.NoOutput,
            },
            DisposeHttpClient = true,
        });

    private static partial class Log
    {
        [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "ratings call failed: {StatusCode} {Detail}")]
        public static partial void RatingsFailed(ILogger logger, StatusCode statusCode, string detail);
    }
}
