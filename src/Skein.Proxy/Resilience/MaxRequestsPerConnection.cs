using System.Buffers;

namespace Skein.Proxy.Resilience;

/// <summary>
/// <c>max_requests_per_connection</c> for HTTP/1.1 upstream connections, which <c>SocketsHttpHandler</c> has no
/// setting for. The plaintext stream of each connection (above TLS) counts the requests written on it (HTTP/1.1
/// sends one at a time: a write after a response was read starts the next) and adds <c>Connection: close</c> to
/// the headers of the last one allowed, so the upstream closes the connection after answering it and the pool
/// opens a new one. HTTP/2 connections are left alone (their streams cannot be counted here).
/// </summary>
internal static class MaxRequestsPerConnection
{
    /// <summary>The handler's plaintext stream filter for <paramref name="max"/> requests per connection, or null for no limit.</summary>
    public static Func<SocketsHttpPlaintextStreamFilterContext, CancellationToken, ValueTask<Stream>>? Filter(int? max) =>
        max is > 0 and var limit
            ? (context, _) => ValueTask.FromResult<Stream>(
                context.NegotiatedHttpVersion.Major == 1 ? new CountingConnectionStream(context.PlaintextStream, limit) : context.PlaintextStream)
            : null;

    /// <summary>Counts requests on one connection and marks the last allowed one with <c>Connection: close</c>.</summary>
    internal sealed class CountingConnectionStream(Stream inner, int max) : Stream
    {
        private static readonly byte[] CloseHeader = "Connection: close\r\n"u8.ToArray();
        private int _requests;
        private bool _responseSeen = true;
        private bool _injecting;
        private int _tail; // how many bytes of "\r\n\r\n" the previous write ended with

        public override bool CanRead => inner.CanRead;

        public override bool CanSeek => false;

        public override bool CanWrite => inner.CanWrite;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        /// <summary>Requests started on this connection so far.</summary>
        public int Requests => _requests;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (n > 0)
            {
                _responseSeen = true;
            }

            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_responseSeen && !buffer.IsEmpty)
            {
                // A write after the previous response was read starts the next request.
                _responseSeen = false;
                _requests++;
                _injecting = _requests >= max;
                _tail = 0;
            }

            if (!_injecting)
            {
                await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
                return;
            }

            var end = EndOfHeaders(buffer.Span);
            if (end < 0)
            {
                await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
                return;
            }

            // end points just past the header block's final CRLF: insert the header before that CRLF.
            _injecting = false;
            var insertAt = end - 2;
            var rented = ArrayPool<byte>.Shared.Rent(buffer.Length + CloseHeader.Length);
            try
            {
                var span = buffer.Span;
                if (insertAt >= 0)
                {
                    span[..insertAt].CopyTo(rented);
                    CloseHeader.CopyTo(rented.AsSpan(insertAt));
                    span[insertAt..].CopyTo(rented.AsSpan(insertAt + CloseHeader.Length));
                    await inner.WriteAsync(rented.AsMemory(0, buffer.Length + CloseHeader.Length), cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    // The final CRLF began in the previous write ("\r" already sent): end the last header line instead.
                    await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }

        public override void Write(byte[] buffer, int offset, int count) =>
            WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync().ConfigureAwait(false);
            await base.DisposeAsync().ConfigureAwait(false);
        }

        /// <summary>The index just past "\r\n\r\n" in this write, counting bytes carried from the previous one; -1 if absent.</summary>
        private int EndOfHeaders(ReadOnlySpan<byte> data)
        {
            ReadOnlySpan<byte> pattern = "\r\n\r\n"u8;
            var matched = _tail;
            for (var i = 0; i < data.Length; i++)
            {
                matched = data[i] == pattern[matched] ? matched + 1 : data[i] == pattern[0] ? 1 : 0;
                if (matched == pattern.Length)
                {
                    return i + 1;
                }
            }

            _tail = matched;
            return -1;
        }
    }
}
