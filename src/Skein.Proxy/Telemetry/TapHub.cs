using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Skein.Proxy.Protocol;

namespace Skein.Proxy.Telemetry;

/// <summary>Which requests a tap subscriber wants; unset criteria match everything.</summary>
/// <param name="PathPrefix">The request path starts with this (case-sensitive).</param>
/// <param name="Method">The request method (case-insensitive).</param>
/// <param name="Authority">The authority contains this (case-insensitive).</param>
/// <param name="Inbound">True: only inbound (server-side) requests; false: only outbound; null: both.</param>
internal sealed record TapFilter(string? PathPrefix, string? Method, string? Authority, bool? Inbound)
{
    public bool Matches(ProxyContext ctx) =>
        (PathPrefix is null || ctx.PathAndQuery.StartsWith(PathPrefix, StringComparison.Ordinal))
        && (Method is null || string.Equals(ctx.Http.Request.Method, Method, StringComparison.OrdinalIgnoreCase))
        && (Authority is null || ctx.Authority.Contains(Authority, StringComparison.OrdinalIgnoreCase))
        && (Inbound is null || Inbound == (ctx.Connection.Role == ListenerRole.Inbound));

    /// <summary>Reads <c>path</c>, <c>method</c>, <c>authority</c> and <c>direction</c> (inbound/outbound) from a query; null and an error when one is invalid.</summary>
    public static TapFilter? FromQuery(IQueryCollection query, out string? error)
    {
        error = null;
        string? Get(string name) => query.TryGetValue(name, out var v) && v.Count > 0 && v[0] is { Length: > 0 } s ? s : null;
        var path = Get("path");
        if (path is not null && path[0] != '/')
        {
            error = "path: must start with /";
            return null;
        }

        bool? inbound = Get("direction") switch
        {
            null => null,
            "inbound" => true,
            "outbound" => false,
            _ => null,
        };
        if (Get("direction") is { } dir && inbound is null)
        {
            error = $"direction: \"{dir}\" is not inbound or outbound";
            return null;
        }

        return new TapFilter(path, Get("method"), Get("authority"), inbound);
    }
}

/// <summary>
/// Live request stream for <c>GET /tap</c> on the admin port. With no subscriber a completed request costs one
/// volatile read; with subscribers, each matching request is serialized once (the access log record) and offered to
/// each subscriber's bounded queue. A subscriber that cannot keep up loses lines (counted), never slows requests.
/// </summary>
internal sealed class TapHub : IRequestObserver
{
    private readonly Lock _lock = new();
    private Subscription[] _subscribers = [];

    public bool HasSubscribers => Volatile.Read(ref _subscribers).Length > 0;

    public void OnRequestCompleted(ProxyContext ctx)
    {
        var subscribers = Volatile.Read(ref _subscribers);
        if (subscribers.Length == 0)
        {
            return;
        }

        byte[]? line = null;
        foreach (var s in subscribers)
        {
            if (s.Filter.Matches(ctx))
            {
                s.Offer(line ??= AccessLogFormat.Line(ctx));
            }
        }
    }

    public Subscription Subscribe(TapFilter filter)
    {
        var s = new Subscription(this, filter);
        lock (_lock)
        {
            _subscribers = [.. _subscribers, s];
        }

        return s;
    }

    private void Remove(Subscription s)
    {
        lock (_lock)
        {
            _subscribers = Array.FindAll(_subscribers, x => !ReferenceEquals(x, s));
        }
    }

    /// <summary>One listener: a bounded queue of lines (1024), dropped when full.</summary>
    internal sealed class Subscription(TapHub hub, TapFilter filter) : IDisposable
    {
        private readonly Channel<byte[]> _lines = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(1024)
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite only: refused when full, counted
            SingleReader = true,
        });

        private long _dropped;

        public TapFilter Filter => filter;

        public long Dropped => Volatile.Read(ref _dropped);

        public ChannelReader<byte[]> Lines => _lines.Reader;

        public void Offer(byte[] line)
        {
            if (!_lines.Writer.TryWrite(line))
            {
                Interlocked.Increment(ref _dropped);
            }
        }

        public void Dispose()
        {
            hub.Remove(this);
            _lines.Writer.TryComplete();
        }
    }
}
