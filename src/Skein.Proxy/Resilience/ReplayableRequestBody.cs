using System.Buffers;

namespace Skein.Proxy.Resilience;

/// <summary>
/// The downstream request body as the upstream attempts read it: bytes pass through as they arrive and are kept
/// (in pooled chunks) up to a limit, so that a retry can read them again from the start (<see cref="Rewind"/>)
/// and a mirror can send a copy once the body is complete. Past the limit the copy is dropped and the body is
/// streamed only: no retry, no mirrored body (Envoy disables retries and shadowing the same way once its
/// request buffer limit is exceeded). One reader at a time; the forwarder never reads concurrently.
/// </summary>
internal sealed class ReplayableRequestBody : Stream
{
    /// <summary>Envoy's default buffer limit (1 MiB) for bodies kept for retries and mirrors.</summary>
    public const int DefaultLimit = 1024 * 1024;

    private const int ChunkSize = 16 * 1024;

    private readonly Stream _inner;
    private readonly int _limit;
    private readonly Lock _lock = new();
    private TaskCompletionSource<byte[]?>? _copy;
    private List<byte[]>? _chunks = [];
    private long _length;
    private long _position;
    private bool _innerDone;
    private bool _disposed;

    public ReplayableRequestBody(Stream inner, int limit = DefaultLimit)
    {
        _inner = inner;
        _limit = limit;
    }

    /// <summary>True while every byte read so far is kept (the body can be sent again).</summary>
    public bool CanReplay => Volatile.Read(ref _chunks) is not null;

    /// <summary>
    /// A copy of the whole body once the request has read it (taken when the last byte arrives, so the request
    /// may end right after); null when the body outgrew the limit or the request ended before reading it all.
    /// </summary>
    public Task<byte[]?> CopyWhenComplete()
    {
        lock (_lock)
        {
            if (_disposed || _chunks is null)
            {
                return Task.FromResult<byte[]?>(null);
            }

            if (_innerDone)
            {
                return Task.FromResult<byte[]?>(SnapshotLocked());
            }

            _copy ??= new TaskCompletionSource<byte[]?>(TaskCreationOptions.RunContinuationsAsynchronously);
            return _copy.Task;
        }
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    /// <summary>Starts the next attempt at the first byte again.</summary>
    public void Rewind()
    {
        if (!CanReplay)
        {
            throw new InvalidOperationException("the request body was not kept");
        }

        _position = 0;
    }

    private byte[] SnapshotLocked()
    {
        var copy = new byte[_length];
        var offset = 0;
        foreach (var chunk in _chunks!)
        {
            var n = (int)Math.Min(ChunkSize, _length - offset);
            chunk.AsSpan(0, n).CopyTo(copy.AsSpan(offset));
            offset += n;
        }

        return copy;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            // A zero-byte read waits for data without consuming it; its 0 is not the end of the body.
            return _innerDone || (_chunks is not null && _position < _length)
                ? 0
                : await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }

        var chunks = _chunks;
        if (chunks is not null && _position < _length)
        {
            return CopyKept(chunks, buffer.Span);
        }

        if (_innerDone)
        {
            return 0;
        }

        var n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (n == 0)
        {
            lock (_lock)
            {
                _innerDone = true;
                _copy?.TrySetResult(_chunks is null ? null : SnapshotLocked());
            }

            return 0;
        }

        if (_chunks is not null)
        {
            if (_length + n > _limit)
            {
                Drop();
            }
            else
            {
                Keep(buffer.Span[..n]);
            }
        }

        _position += n;
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_lock)
            {
                _disposed = true;
                Release();
            }
        }

        base.Dispose(disposing);
    }

    private int CopyKept(List<byte[]> chunks, Span<byte> destination)
    {
        var index = (int)(_position / ChunkSize);
        var offset = (int)(_position % ChunkSize);
        var available = (int)Math.Min(Math.Min(ChunkSize - offset, _length - _position), destination.Length);
        chunks[index].AsSpan(offset, available).CopyTo(destination);
        _position += available;
        return available;
    }

    private void Keep(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            var chunks = _chunks!;
            while (!data.IsEmpty)
            {
                var offset = (int)(_length % ChunkSize);
                if (offset == 0)
                {
                    chunks.Add(ArrayPool<byte>.Shared.Rent(ChunkSize));
                }

                var n = Math.Min(ChunkSize - offset, data.Length);
                data[..n].CopyTo(chunks[^1].AsSpan(offset));
                _length += n;
                data = data[n..];
            }
        }
    }

    private void Drop()
    {
        lock (_lock)
        {
            Release();
        }
    }

    private void Release()
    {
        _copy?.TrySetResult(null);
        if (_chunks is { } chunks)
        {
            foreach (var chunk in chunks)
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }

            Volatile.Write(ref _chunks, null);
        }
    }
}
