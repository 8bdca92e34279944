using Grpc.Core;
using Skein.Bookstore.Protos;

namespace Skein.Bookstore.Roles;

/// <summary>
/// Ratings: the gRPC service <c>bookstore.Ratings</c> over plaintext HTTP/2 (h2c prior
/// knowledge) on the same port that answers HTTP/1.1 <c>/healthz</c> and <c>/echo</c>.
/// </summary>
internal sealed class RatingsRole : IRole
{
    public static void AddTo(IServiceCollection services)
    {
        services.AddGrpc();
        services.AddSingleton<IRole, RatingsRole>();
    }

    public void MapEndpoints(IEndpointRouteBuilder endpoints) => endpoints.MapGrpcService<RatingsService>();

    /// <summary>The stars each reviewer gave a product (the same two reviewers for every book).</summary>
    public static RatingsReply RatingsFor(int productId)
    {
        var reply = new RatingsReply { ProductId = productId };
        reply.Ratings.Add("Reviewer1", 5);
        reply.Ratings.Add("Reviewer2", 4);
        return reply;
    }
}

/// <summary>The implementation of <c>bookstore.Ratings</c>.</summary>
internal sealed class RatingsService(TimeProvider time) : Protos.Ratings.RatingsBase
{
    public const int DefaultWatchCount = 3;
    public const int MaxWatchCount = 100;
    public const int DefaultWatchIntervalMs = 100;
    public const int MaxWatchIntervalMs = 5000;

    public override Task<RatingsReply> GetRatings(RatingsRequest request, ServerCallContext context)
    {
        CheckProduct(request.ProductId);
        return Task.FromResult(RatingsRole.RatingsFor(request.ProductId));
    }

    public override async Task WatchRatings(WatchRatingsRequest request, IServerStreamWriter<RatingsReply> responseStream, ServerCallContext context)
    {
        CheckProduct(request.ProductId);
        var count = request.Count switch
        {
            0 => DefaultWatchCount,
            < 0 or > MaxWatchCount => throw new RpcException(new Status(StatusCode.InvalidArgument, $"count must be 0..{MaxWatchCount}")),
            var n => n,
        };
        var interval = request.IntervalMs switch
        {
            0 => DefaultWatchIntervalMs,
            < 0 or > MaxWatchIntervalMs => throw new RpcException(new Status(StatusCode.InvalidArgument, $"interval_ms must be 0..{MaxWatchIntervalMs}")),
            var n => n,
        };
        for (var i = 0; i < count; i++)
        {
            if (i > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(interval), time, context.CancellationToken);
            }
            await responseStream.WriteAsync(RatingsRole.RatingsFor(request.ProductId), context.CancellationToken);
        }
    }

    private static void CheckProduct(int productId)
    {
        if (productId <= 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "product_id must be positive"));
        }
    }
}
