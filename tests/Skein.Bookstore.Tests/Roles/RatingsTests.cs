using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using Skein.Bookstore.Protos;
using Skein.Bookstore.Tests.Infrastructure;

namespace Skein.Bookstore.Tests.Roles;

[Collection(BookstoreMeshCollection.Name)]
public sealed class RatingsTests(BookstoreMesh mesh)
{
    [Fact]
    public async Task GetRatings_GrpcOverH2c_ReturnsRatingsAndServedBy()
    {
        using var channel = Channel();
        var client = new Protos.Ratings.RatingsClient(channel);

        using var call = client.GetRatingsAsync(new RatingsRequest { ProductId = 7 }, deadline: Deadline());
        var reply = await call.ResponseAsync;
        var headers = await call.ResponseHeadersAsync;

        Assert.Equal(7, reply.ProductId);
        Assert.Equal(5, reply.Ratings["Reviewer1"]);
        Assert.Equal(4, reply.Ratings["Reviewer2"]);
        Assert.Equal("ratings-v1-ratings-1", headers.GetValue("x-served-by"));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task WatchRatings_CountFour_StreamsFourMessagesThenEnds()
    {
        using var channel = Channel();
        var client = new Protos.Ratings.RatingsClient(channel);

        using var call = client.WatchRatings(new WatchRatingsRequest { ProductId = 3, Count = 4, IntervalMs = 10 }, deadline: Deadline());
        var replies = new List<RatingsReply>();
        await foreach (var reply in call.ResponseStream.ReadAllAsync())
        {
            replies.Add(reply);
        }

        Assert.Equal(4, replies.Count);
        Assert.All(replies, r => Assert.Equal(3, r.ProductId));
    }

    [Fact]
    public async Task GetRatings_ProductZero_InvalidArgument()
    {
        using var channel = Channel();
        var client = new Protos.Ratings.RatingsClient(channel);

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.GetRatingsAsync(new RatingsRequest { ProductId = 0 }, deadline: Deadline()));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }

    [Fact]
    public async Task GetRatings_FailMetadata_Unavailable()
    {
        using var channel = Channel();
        var client = new Protos.Ratings.RatingsClient(channel);

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.GetRatingsAsync(new RatingsRequest { ProductId = 1 }, new Metadata { { "x-bookstore-fail", "503" } }, Deadline()));

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
    }

    [Fact]
    public async Task GetHealthz_Http1AndH2cOnGrpcPort_BothOk()
    {
        using var http1 = Http.Http1();
        using var h2c = Http.H2c();
        var url = new Uri(mesh.Ratings.Url, "/healthz");

        using var first = await http1.GetAsync(url);
        using var second = await h2c.GetAsync(url);

        Assert.Equal(HttpVersion.Version11, first.Version);
        Assert.Equal("ok", await first.Content.ReadAsStringAsync());
        Assert.Equal(HttpVersion.Version20, second.Version);
        Assert.Equal("ok", await second.Content.ReadAsStringAsync());
    }

    private GrpcChannel Channel() =>
        GrpcChannel.ForAddress(mesh.Ratings.Url, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { UseProxy = false } });

    private static DateTime Deadline() => DateTime.UtcNow.AddSeconds(15);
}
