using RootfsForge.IO;

namespace RootfsForge.Sources.Oci;

/// <summary>
/// A blob read while it downloads into the cache, so that decompressing a layer need not wait for its last byte. A read
/// returns bytes the download has written to the <see cref="PartialBlob"/>, or waits for more; the stream ends only once
/// the download finished and the blob passed its size and digest check and is in the cache (<see cref="Completion"/>).
/// Until that end nothing read is checked: whoever reads must hold back everything made from it until
/// <see cref="Completion"/> succeeded. A failed download fails the read with its error; a download that started over
/// (<see cref="PartialBlob.Reset"/>: a server that ignored a Range request) fails the read and <see cref="Completion"/>
/// with <see cref="BlobRestartedException"/>. Disposing the stream before the end cancels the download, leaving the partial
/// file to resume, and waits for it to stop.
/// </summary>
internal sealed class DownloadingBlobStream : ForwardReadStream
{
    private readonly PartialBlob _partial;
    private readonly CancellationTokenSource _stop;
    private readonly Task _download;
    private readonly int _generation;
    private long _position;
    private bool _disposed;

    /// <summary>Starts <paramref name="download"/> (which writes <paramref name="partial"/> and commits it) in the background.</summary>
    /// <param name="partial">The blob's partial file, fresh (nothing resumed); the stream owns it from now on.</param>
    /// <param name="download">Downloads into the partial file and commits it; gets a token that disposing the stream cancels.</param>
    /// <param name="cancellationToken">Cancels the download.</param>
    public DownloadingBlobStream(PartialBlob partial, Func<CancellationToken, Task> download, CancellationToken cancellationToken)
    {
        _partial = partial;
        _generation = partial.Generation;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _download = Task.Run(async () =>
        {
            await download(_stop.Token).ConfigureAwait(false);
            // A download that started over passed its check on bytes a reader may not have seen (it may have read all of
            // the first attempt and be between its looks): the check then vouches for nothing read, whatever the reader saw.
            if (partial.Generation != _generation) throw new BlobRestartedException(partial.Digest);
        }, CancellationToken.None);
    }

    /// <summary>The download: completes once the blob is checked and in the cache, or fails with why it is not.</summary>
    public Task Completion => _download;

    public override int Read(Span<byte> buffer)
    {
        while (true)
        {
            var changed = _partial.Changed; // taken before looking, so growth after the look still wakes the wait
            int n = ReadAvailable(buffer);
            if (n >= 0) return n;
            Task.WaitAny(changed, _download);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var changed = _partial.Changed;
            int n = ReadAvailable(buffer.Span);
            if (n >= 0) return n;
            await Task.WhenAny(changed, _download).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Bytes already written (0 at the checked end), or -1 when there are none yet.</summary>
    private int ReadAvailable(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty) return 0;
        // Completion is looked at first: once it is done, Length is final (and a new start has failed it).
        bool done = _download.IsCompleted;
        if (done && !_download.IsCompletedSuccessfully) _download.GetAwaiter().GetResult(); // why it failed, at once
        // Any new start voids the stream, even before a byte was read: while Reset truncates, Length may still show the
        // old bytes, and following the new start safely would take more than this rare case is worth.
        if (_partial.Generation != _generation) throw new BlobRestartedException(_partial.Digest);
        long available = _partial.Length;
        if (_position < available)
        {
            int n = RandomAccess.Read(_partial.Handle, buffer[..(int)Math.Min(buffer.Length, available - _position)], _position);
            if (_partial.Generation != _generation) throw new BlobRestartedException(_partial.Digest);
            if (n <= 0) throw new IOException($"blob {_partial.Digest}: the partial file is shorter than the {available} bytes written");
            _position += n;
            return n;
        }
        return done ? 0 : -1;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _stop.Cancel();
            try
            {
                _download.GetAwaiter().GetResult();
            }
            catch
            {
                // Cancelled here, or failed: the failure reached the reader, or the reader stopped for a reason of its own.
            }
            _partial.Dispose();
            _stop.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>A blob being read while it downloaded had to be downloaded again from its start; read it once it is cached.</summary>
internal sealed class BlobRestartedException(ContentDigest digest)
    : IOException($"blob {digest}: the download started over after part of it was read");
