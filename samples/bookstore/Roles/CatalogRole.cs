using System.Globalization;
using Skein.Bookstore.Common;

namespace Skein.Bookstore.Roles;

/// <summary>
/// The catalog (bookinfo's "details"): <c>GET /books</c> lists a few books,
/// <c>GET /books/{id}</c> answers one or 404.
/// </summary>
internal sealed class CatalogRole : IRole
{
    public static readonly Book[] Books =
    [
        new() { Id = 1, Title = "The Comedy of Errors", Author = "William Shakespeare", Year = 1595, Isbn = "0486424618" },
        new() { Id = 2, Title = "Moby-Dick", Author = "Herman Melville", Year = 1851, Isbn = "0142437247" },
        new() { Id = 3, Title = "Middlemarch", Author = "George Eliot", Year = 1871, Isbn = "0141439548" },
        new() { Id = 4, Title = "The Left Hand of Darkness", Author = "Ursula K. Le Guin", Year = 1969, Isbn = "0441478123" },
    ];

    public static void AddTo(IServiceCollection services) => services.AddSingleton<IRole, CatalogRole>();

    public void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/books", static context =>
            context.Response.WriteAsJsonAsync(Books, BookstoreJson.Default.BookArray, cancellationToken: context.RequestAborted));
        endpoints.MapGet("/books/{id}", static context =>
        {
            var text = context.Request.RouteValues["id"] as string;
            var book = int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                ? Array.Find(Books, b => b.Id == id)
                : null;
            if (book is null)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return context.Response.WriteAsJsonAsync(new ErrorResponse($"no book with id '{text}'"), BookstoreJson.Default.ErrorResponse, cancellationToken: context.RequestAborted);
            }
            return context.Response.WriteAsJsonAsync(book, BookstoreJson.Default.Book, cancellationToken: context.RequestAborted);
        });
    }
}
