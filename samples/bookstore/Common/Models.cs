using System.Text.Json;
using System.Text.Json.Serialization;

namespace Skein.Bookstore.Common;

/// <summary>A book as the catalog serves it.</summary>
internal sealed record Book
{
    public required int Id { get; init; }

    public required string Title { get; init; }

    public required string Author { get; init; }

    public int Year { get; init; }

    public string? Isbn { get; init; }
}

/// <summary>A star rating; v2 draws black stars, v3 red ones.</summary>
internal sealed record Rating
{
    public required int Stars { get; init; }

    public required string Color { get; init; }
}

internal sealed record Review
{
    public required string Reviewer { get; init; }

    public required string Text { get; init; }

    /// <summary>Absent in v1 and when ratings could not be reached.</summary>
    public Rating? Rating { get; init; }
}

/// <summary>The answer of reviews to <c>GET /reviews/{id}</c>.</summary>
internal sealed record ReviewsResponse
{
    public required int Id { get; init; }

    public required string Version { get; init; }

    public required IReadOnlyList<Review> Reviews { get; init; }

    /// <summary>Set by v2 and v3 when the ratings call failed ("ratings unavailable").</summary>
    public string? RatingsError { get; init; }

    /// <summary>The <c>x-served-by</c> of the ratings instance that answered.</summary>
    public string? RatingsServedBy { get; init; }

    /// <summary>The propagated headers (x-request-id, traceparent, end-user, ...) this request carried.</summary>
    public IReadOnlyDictionary<string, string>? Propagated { get; init; }
}

/// <summary>The answer of the frontend to <c>GET /api/product/{id}</c>.</summary>
internal sealed record ProductResponse
{
    public Book? Book { get; init; }

    /// <summary>Set when the catalog could not be reached ("catalog unavailable").</summary>
    public string? CatalogError { get; init; }

    public required ProductReviews Reviews { get; init; }
}

/// <summary>What the frontend learnt from reviews, flattened for clients.</summary>
internal sealed record ProductReviews
{
    /// <summary>The HTTP status reviews answered with; 0 when no answer came (refused, reset, timeout).</summary>
    public required int Status { get; init; }

    public string? Version { get; init; }

    /// <summary>Stars by reviewer; absent when the version shows no ratings.</summary>
    public IReadOnlyDictionary<string, int>? Ratings { get; init; }

    public string? Color { get; init; }

    public IReadOnlyList<Review>? Reviews { get; init; }

    public string? ServedBy { get; init; }

    /// <summary>"reviews unavailable" when the call failed.</summary>
    public string? Error { get; init; }

    public string? RatingsError { get; init; }

    /// <summary>The propagated headers reviews received from the frontend.</summary>
    public IReadOnlyDictionary<string, string>? Propagated { get; init; }
}

/// <summary>The answer of <c>/echo</c>: what the instance saw.</summary>
internal sealed record EchoResponse
{
    public required string Instance { get; init; }

    public required string Role { get; init; }

    public required string Version { get; init; }

    public required string Method { get; init; }

    public required string Path { get; init; }

    public required string Protocol { get; init; }

    public required string Scheme { get; init; }

    public string? Host { get; init; }

    public required IReadOnlyDictionary<string, string> Query { get; init; }

    public required IReadOnlyDictionary<string, string> Headers { get; init; }
}

internal sealed record ErrorResponse(string Error);

[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Book))]
[JsonSerializable(typeof(Book[]))]
[JsonSerializable(typeof(ReviewsResponse))]
[JsonSerializable(typeof(ProductResponse))]
[JsonSerializable(typeof(EchoResponse))]
[JsonSerializable(typeof(ErrorResponse))]
internal sealed partial class BookstoreJson : JsonSerializerContext;
