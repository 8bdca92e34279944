namespace Skein.Bookstore.Common;

/// <summary>
/// Wraps every request of every role: stamps <c>x-served-by</c>, applies injected latency
/// and failures (<see cref="Chaos"/>; never to <c>/healthz</c> or <c>/chaos</c>, so a failing instance stays
/// in the endpoints and the mesh's outlier detection has something to eject), and logs one
/// line "METHOD PATH STATUS MSms" unless quiet.
/// </summary>
internal sealed partial class BookstoreMiddleware(
    RequestDelegate next,
    BookstoreOptions options,
    Chaos chaos,
    TimeProvider time,
    ILogger<BookstoreMiddleware> logger)
{
    public const string ServedByHeader = "x-served-by";
    public const string FaultHeader = "x-bookstore-fault";

    private readonly string _servedBy = options.ServedBy;

    public async Task InvokeAsync(HttpContext context)
    {
        var started = time.GetTimestamp();
        context.Response.Headers[ServedByHeader] = _servedBy;
        try
        {
            var decision = context.Request.Path.StartsWithSegments("/healthz", StringComparison.Ordinal)
                || context.Request.Path.StartsWithSegments("/chaos", StringComparison.Ordinal)
                ? ChaosDecision.None
                : chaos.Decide(context.Request.Headers);
            if (decision.Delay > TimeSpan.Zero)
            {
                await Task.Delay(decision.Delay, time, context.RequestAborted);
            }
            if (decision.FailStatus is { } status)
            {
                await FailAsync(context, status, decision.Error);
                return;
            }
            await next(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing left to answer.
        }
        finally
        {
            if (!options.Quiet)
            {
                var elapsed = time.GetElapsedTime(started);
                Log.Request(logger, context.Request.Method, context.Request.Path.Value ?? "/", context.Response.StatusCode, (long)elapsed.TotalMilliseconds);
            }
        }
    }

    private static Task FailAsync(HttpContext context, int status, string? error)
    {
        context.Response.StatusCode = status;
        if (error is null)
        {
            context.Response.Headers[FaultHeader] = "injected";
        }
        if (status is 204 or 205 or 304 || HttpMethods.IsHead(context.Request.Method))
        {
            return Task.CompletedTask;
        }
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(error is null ? $"fault injected by bookstore: {status}\n" : error + "\n", context.RequestAborted);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Method} {Path} {Status} {ElapsedMs}ms")]
        public static partial void Request(ILogger logger, string method, string path, int status, long elapsedMs);
    }
}
