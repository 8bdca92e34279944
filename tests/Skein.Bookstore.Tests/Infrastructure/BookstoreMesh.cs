namespace Skein.Bookstore.Tests.Infrastructure;

/// <summary>
/// The whole demo app as real processes, wired by URL environment variables:
/// frontend → catalog + reviews v2 → ratings, and a second frontend → reviews v1.
/// Shared by the tests of the "bookstore mesh" collection; started once, killed at the end.
/// </summary>
public sealed class BookstoreMesh : ProcessFixture
{
    internal BookstoreProcess Ratings { get; private set; } = null!;

    internal BookstoreProcess Catalog { get; private set; } = null!;

    internal BookstoreProcess ReviewsV1 { get; private set; } = null!;

    internal BookstoreProcess ReviewsV2 { get; private set; } = null!;

    internal BookstoreProcess ReviewsV3 { get; private set; } = null!;

    /// <summary>Frontend wired to catalog and reviews v2.</summary>
    internal BookstoreProcess Frontend { get; private set; } = null!;

    /// <summary>Frontend wired to catalog and reviews v1.</summary>
    internal BookstoreProcess FrontendV1 { get; private set; } = null!;

    protected override async Task StartAsync()
    {
        var first = await Task.WhenAll(
            Start("ratings", new() { ["INSTANCE"] = "ratings-1" }),
            Start("catalog", new() { ["INSTANCE"] = "catalog-1" }));
        (Ratings, Catalog) = (first[0], first[1]);

        var ratings = Ratings.Url.ToString();
        var reviews = await Task.WhenAll(
            Start("reviews", new() { ["INSTANCE"] = "reviews-1", ["VERSION"] = "v1", ["RATINGS_URL"] = ratings }),
            Start("reviews", new() { ["INSTANCE"] = "reviews-2", ["VERSION"] = "v2", ["RATINGS_URL"] = ratings }),
            Start("reviews", new() { ["INSTANCE"] = "reviews-3", ["VERSION"] = "v3", ["RATINGS_URL"] = ratings }));
        (ReviewsV1, ReviewsV2, ReviewsV3) = (reviews[0], reviews[1], reviews[2]);

        var catalog = Catalog.Url.ToString();
        var frontends = await Task.WhenAll(
            Start("frontend", new() { ["INSTANCE"] = "frontend-1", ["CATALOG_URL"] = catalog, ["REVIEWS_URL"] = ReviewsV2.Url.ToString() }),
            Start("frontend", new() { ["INSTANCE"] = "frontend-2", ["CATALOG_URL"] = catalog, ["REVIEWS_URL"] = ReviewsV1.Url.ToString() }));
        (Frontend, FrontendV1) = (frontends[0], frontends[1]);
    }
}

[CollectionDefinition(Name)]
public sealed class BookstoreMeshCollection : ICollectionFixture<BookstoreMesh>
{
    public const string Name = "bookstore mesh";
}
