using System.Net;
using Skein.Bookstore.Tests.Infrastructure;

namespace Skein.Bookstore.Tests.Roles;

[Collection(BookstoreMeshCollection.Name)]
public sealed class CatalogTests(BookstoreMesh mesh)
{
    [Fact]
    public async Task GetBooks_Always_ListsBooksWithIdsAndTitles()
    {
        using var client = Http.Http1();
        var books = await client.GetJsonAsync(new Uri(mesh.Catalog.Url, "/books"));

        var list = books.EnumerateArray().ToList();
        Assert.True(list.Count >= 3);
        Assert.Equal(1, list[0].GetProperty("id").GetInt32());
        Assert.Equal("The Comedy of Errors", list[0].GetProperty("title").GetString());
    }

    [Fact]
    public async Task GetBook_Known_ReturnsIt()
    {
        using var client = Http.Http1();
        var book = await client.GetJsonAsync(new Uri(mesh.Catalog.Url, "/books/2"));

        Assert.Equal("Moby-Dick", book.GetProperty("title").GetString());
    }

    [Fact]
    public async Task GetBook_Unknown_Returns404()
    {
        using var client = Http.Http1();
        using var response = await client.GetAsync(new Uri(mesh.Catalog.Url, "/books/42"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
