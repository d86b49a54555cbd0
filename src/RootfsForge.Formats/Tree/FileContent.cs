namespace RootfsForge.Tree;

/// <summary>One range of a file that holds data; everything outside the returned ranges reads as zeros (a hole).</summary>
/// <param name="Offset">Byte offset of the range in the file.</param>
/// <param name="Length">Length of the range in bytes.</param>
public readonly record struct DataSegment(long Offset, long Length)
{
    /// <summary>The offset just past the end of the range.</summary>
    public long End => Offset + Length;
}

/// <summary>
/// Random-access reader for one regular file's content, with its holes. Safe to use from one thread at a time; open a
/// new one per consumer. Disposing releases buffers; the underlying image stays open.
/// </summary>
/// <remarks>
/// Reading is asynchronous because some contents live in remote block stores (<c>.fl</c>) or registries; contents of local
/// images complete synchronously, so reading them in large chunks costs no more than a synchronous call.
/// </remarks>
public abstract class FileContent : IDisposable
{
    /// <summary>The file size in bytes (i_size), holes included.</summary>
    public abstract long Length { get; }

    /// <summary>
    /// The ranges holding data, ascending and non-overlapping, within [0, <see cref="Length"/>). A file without holes
    /// returns one segment covering it all (or none when empty). Segments may contain zeros; gaps must read as zeros.
    /// </summary>
    public abstract IReadOnlyList<DataSegment> GetDataSegments();

    /// <summary>Reads up to <paramref name="destination"/>.Length bytes at <paramref name="offset"/>; 0 at the end.</summary>
    public abstract ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default);

    /// <summary>
    /// Hints that [offset, offset+length) will be read next, sequentially, so the source can decode or fetch ahead (qcow2
    /// clusters on other cores, store blocks). The default does nothing.
    /// </summary>
    public virtual void Prefetch(long offset, long length)
    {
    }

    /// <summary>
    /// True when reads may run on several threads at once and after the source's walk has moved past the entry (until
    /// the content is disposed), so a consumer may hand its chunks to worker threads. Contents read with pread from a
    /// file handle of their own or of their archive are; contents behind an image's shared caches (ext4 in a disk image)
    /// or remote block stores are not.
    /// </summary>
    internal virtual bool SupportsConcurrentReads => false;

    /// <summary>The whole content as a sink's <see cref="ContentEncoder"/> holds it, when the source handed it over.</summary>
    internal virtual EncodedContent? Encoded => null;

    /// <summary>Reads exactly <paramref name="destination"/>.Length bytes at <paramref name="offset"/>.</summary>
    /// <exception cref="EndOfStreamException">The content ended first.</exception>
    public async ValueTask ReadExactlyAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int n = await ReadAtAsync(offset + done, destination[done..], cancellationToken).ConfigureAwait(false);
            if (n <= 0) throw new EndOfStreamException($"file content ended at {offset + done} of {Length}");
            done += n;
        }
    }

    /// <summary>
    /// A sequential, seekable read-only stream over the whole content (holes as zeros). Contents of local images, tar
    /// archives and directories complete synchronously, so the synchronous reads work on them; content from remote
    /// stores (<c>.fl</c> blocks) must be read with the asynchronous reads: a synchronous read that would have to wait
    /// throws <see cref="NotSupportedException"/> instead of blocking the thread.
    /// </summary>
    public Stream OpenStream() => new FileContentStream(this);

    /// <summary>Releases resources.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases resources.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>Content held in memory (small files, tests, generated files such as <c>/.startup.toml</c>).</summary>
    public static FileContent FromBytes(ReadOnlyMemory<byte> bytes) => new MemoryFileContent(bytes);

    private sealed class MemoryFileContent(ReadOnlyMemory<byte> bytes) : FileContent
    {
        public override long Length => bytes.Length;

        internal override bool SupportsConcurrentReads => true;

        public override IReadOnlyList<DataSegment> GetDataSegments() =>
            bytes.Length == 0 ? [] : [new DataSegment(0, bytes.Length)];

        public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(offset);
            if (offset >= bytes.Length) return new(0);
            var src = bytes.Span[(int)offset..];
            int n = Math.Min(src.Length, destination.Length);
            src[..n].CopyTo(destination.Span);
            return new(n);
        }
    }

    private sealed class FileContentStream(FileContent content) : Stream
    {
        private long _position;
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => content.Length;

        public override long Position
        {
            get => _position;
            set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            byte[] rented = System.Buffers.ArrayPool<byte>.Shared.Rent(buffer.Length);
            var pending = content.ReadAtAsync(_position, rented.AsMemory(0, buffer.Length));
            if (!pending.IsCompleted)
            {
                // Remote content: never block a thread on it. The read in flight keeps the buffer until it ends.
                _ = ReturnWhenDoneAsync(pending, rented);
                throw new NotSupportedException("this file's content is fetched from a remote store: read it with ReadAsync");
            }
            try
            {
                int n = pending.GetAwaiter().GetResult(); // completed: returns the value or throws the read's exception
                rented.AsSpan(0, n).CopyTo(buffer);
                _position += n;
                return n;
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
            }
        }

        private static async Task ReturnWhenDoneAsync(ValueTask<int> pending, byte[] rented)
        {
            try
            {
                await pending.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The caller already got NotSupportedException; this read's own outcome has no one to go to.
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n = await content.ReadAtAsync(_position, buffer, cancellationToken).ConfigureAwait(false);
            _position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => content.Length + offset,
        };

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
