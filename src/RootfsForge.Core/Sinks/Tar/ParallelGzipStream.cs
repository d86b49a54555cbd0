using System.Buffers;
using System.IO.Compression;

namespace RootfsForge.Sinks.Tar;

/// <summary>
/// A write-only gzip stream that cuts its input into fixed 1 MiB blocks and compresses each as an independent gzip
/// member on the thread pool, writing the members in order. A concatenation of members is one valid gzip file
/// (RFC 1952 §2.2) that gzip, <c>tar -xzf</c> and Python read. Block boundaries depend only on the byte count, never on
/// timing or flushes, so equal input gives equal output; member headers carry mtime 0.
/// </summary>
internal sealed class ParallelGzipStream : Stream
{
    internal const int BlockSize = 1 << 20;

    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly int _level;
    private readonly int _maxInFlight;
    private readonly Queue<Task<MemoryStream>> _pending = new();
    private byte[] _block;
    private int _blockLength;
    private bool _wroteAny;
    private bool _finished;

    public ParallelGzipStream(Stream inner, int level, int threads, bool leaveOpen)
    {
        _inner = inner;
        _level = level;
        _leaveOpen = leaveOpen;
        _maxInFlight = Math.Max(1, threads) + 1;
        _block = ArrayPool<byte>.Shared.Rent(BlockSize);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_finished;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    // Asynchronous only: waiting for a compressed member must not block a thread.
    public override void Write(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("ParallelGzipStream is written asynchronously");

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        while (buffer.Length > 0)
        {
            int n = Math.Min(buffer.Length, BlockSize - _blockLength);
            buffer.Span[..n].CopyTo(_block.AsSpan(_blockLength));
            _blockLength += n;
            buffer = buffer[n..];
            if (_blockLength == BlockSize) await SubmitBlockAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes finished members; never cuts the current block (that would make output depend on flush timing).</summary>
    public override void Flush()
    {
    }

    /// <inheritdoc cref="Flush"/>
    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        while (_pending.Count > 0 && _pending.Peek().IsCompleted) await WriteOldestAsync(cancellationToken).ConfigureAwait(false);
        await _inner.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Compresses the last partial block, writes every member, and flushes.</summary>
    public async ValueTask FinishAsync(CancellationToken cancellationToken)
    {
        if (_finished) return;
        if (_blockLength > 0 || !_wroteAny) await SubmitBlockAsync(cancellationToken).ConfigureAwait(false);
        while (_pending.Count > 0) await WriteOldestAsync(cancellationToken).ConfigureAwait(false);
        await _inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        _finished = true;
        ArrayPool<byte>.Shared.Return(_block);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (!_finished)
            {
                // Aborted: let running compressions end (they use pooled buffers) without writing them.
                // Running compressions finish on their own and return their pooled buffers; nothing waits for them.
                foreach (var t in _pending) t.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
                _pending.Clear();
                _finished = true;
            }
            if (!_leaveOpen) _inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    private async ValueTask SubmitBlockAsync(CancellationToken cancellationToken)
    {
        var block = _block;
        int length = _blockLength;
        int level = _level;
        _wroteAny = true;
        _pending.Enqueue(Task.Run(() =>
        {
            try
            {
                var ms = new MemoryStream(length / 2 + 64);
                using (var gz = new GZipStream(ms, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true))
                    gz.Write(block, 0, length);
                return ms;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(block);
            }
        }, CancellationToken.None));
        _block = ArrayPool<byte>.Shared.Rent(BlockSize);
        _blockLength = 0;
        while (_pending.Count >= _maxInFlight) await WriteOldestAsync(cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask WriteOldestAsync(CancellationToken cancellationToken)
    {
        var ms = await _pending.Dequeue().ConfigureAwait(false);
        await _inner.WriteAsync(ms.GetBuffer().AsMemory(0, (int)ms.Length), cancellationToken).ConfigureAwait(false);
    }
}
