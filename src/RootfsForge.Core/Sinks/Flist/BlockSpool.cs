using System.Buffers;
using System.Threading.Channels;
using Microsoft.Win32.SafeHandles;
using RootfsForge.Flist;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Flist;

/// <summary>
/// A <see cref="FlistSink"/>'s <see cref="ContentEncoder"/>: contents a source hands over while it reads them (an OCI
/// layer as it is decompressed) are cut into chunks and encoded into blocks at once (docs/flist-format.md §3) on worker
/// threads, and the blocks wait in an unlinked temporary file until the sink reaches their files. The sink then stores
/// them without reading or encoding anything; blocks of files a later layer deletes are never stored. Compared with a
/// plain copy of the layer that the sink reads back and encodes later, the encoding runs while the download and the
/// decompression leave cores idle, and the temporary file holds the blocks (about half the bytes) instead of the plain
/// contents.
/// </summary>
/// <remarks>
/// A chunk whose key the <see cref="BlockIdIndex"/> knows is kept plain, as the sink's own pipeline would only hash it
/// (its block is encoded late, if a store lacks it). Memory: a bounded queue of chunks and a few bytes per block.
/// </remarks>
internal sealed class BlockSpool : ContentEncoder, IAsyncDisposable
{
    private readonly SafeFileHandle _file;
    private readonly BlockIdIndex _index;
    private readonly Channel<Chunk> _queue;
    // Chunks are rented by the threads that decompress layers and returned by the workers. The shared pool caches returned
    // arrays per thread first, so those rentals can miss and allocate; this pool has one store for all threads, sized for
    // the chunks that can be out at once (the queue, one per worker, one per layer being spooled).
    private readonly ArrayPool<byte> _chunks = ArrayPool<byte>.Create(FlistBlock.ChunkSize, 16);
    private readonly Task[] _workers;
    private long _length;
    private Exception? _failure;
    private bool _stopped, _disposed;

    public BlockSpool(string? temporaryDirectory, int workers, BlockIdIndex index)
    {
        _index = index;
        var path = Path.Combine(temporaryDirectory ?? Path.GetTempPath(), $".rootfsforge-blocks-{Guid.NewGuid():N}");
        _file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        File.Delete(path); // unlinked while open: nothing is left behind, whatever happens
        workers = Math.Max(1, workers);
        _queue = Channel.CreateBounded<Chunk>(new BoundedChannelOptions(workers * 4) { FullMode = BoundedChannelFullMode.Wait });
        _workers = new Task[workers];
        for (int i = 0; i < workers; i++) _workers[i] = Task.Run(WorkAsync);
    }

    /// <summary>Where <see cref="SpooledContent"/> rents its chunk buffers (they come back through <see cref="QueueAsync"/>).</summary>
    internal ArrayPool<byte> Chunks => _chunks;

    /// <summary>The largest content taken: its chunks are numbered with an <see cref="int"/> (larger ones stay with the source).</summary>
    internal const long MaxContentLength = (long)int.MaxValue * FlistBlock.ChunkSize;

    /// <inheritdoc />
    public override EncodedContent? Begin(long length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        ObjectDisposedException.ThrowIf(_stopped, this);
        return length <= MaxContentLength ? new SpooledContent(this, length) : null;
    }

    /// <summary>Queues chunk <paramref name="index"/> of <paramref name="content"/>; takes the pooled <paramref name="buffer"/>.</summary>
    internal async ValueTask QueueAsync(SpooledContent content, int index, byte[] buffer, int length, CancellationToken cancellationToken)
    {
        try
        {
            if (Volatile.Read(ref _failure) is { } failure) throw new IOException($"encoding file contents failed: {failure.Message}", failure);
            await _queue.Writer.WriteAsync(new Chunk(content, index, buffer, length), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _chunks.Return(buffer);
            throw;
        }
    }

    /// <summary>Encodes one chunk on the calling thread (the last, short chunk of a content cut short).</summary>
    internal void EncodeNow(SpooledContent content, int index, byte[] buffer, int length) =>
        Encode(new Chunk(content, index, buffer, length));

    private async Task WorkAsync()
    {
        await foreach (var chunk in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (Volatile.Read(ref _failure) is { } failure)
            {
                _chunks.Return(chunk.Buffer);
                chunk.Content.Fail(failure);
                continue;
            }
            Encode(chunk);
        }
    }

    private void Encode(Chunk chunk)
    {
        ChunkBlock encoded = default;
        try
        {
            // A chunk the block index knows is kept plain: the sink's own pipeline would only hash it too.
            var plain = chunk.Buffer.AsSpan(0, chunk.Length);
            encoded = ChunkEncoder.EncodeChunk(plain, _index);
            var block = encoded.Data is { } data
                ? new SpooledBlock(encoded.Key, encoded.Id, Append(data.AsSpan(0, encoded.Length)), encoded.Length, Plain: false)
                : new SpooledBlock(encoded.Key, encoded.Id, Append(plain), chunk.Length, Plain: true);
            chunk.Content.SetBlock(chunk.Index, block);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _failure, e, null);
            chunk.Content.Fail(e);
        }
        finally
        {
            _chunks.Return(chunk.Buffer);
            if (encoded.Data is not null) ArrayPool<byte>.Shared.Return(encoded.Data);
        }
    }

    /// <summary>Writes <paramref name="bytes"/> at the end of the file; returns where.</summary>
    private long Append(ReadOnlySpan<byte> bytes)
    {
        long at = Interlocked.Add(ref _length, bytes.Length) - bytes.Length;
        RandomAccess.Write(_file, bytes, at);
        return at;
    }

    /// <summary>
    /// The bytes a store keeps for <paramref name="block"/>, in a buffer rented from <see cref="ArrayPool{T}.Shared"/> (the
    /// caller returns it): read back, and encoded first when the block was kept plain.
    /// </summary>
    internal (byte[] Buffer, int Length) LoadBlock(in SpooledBlock block)
    {
        byte[] stored = ArrayPool<byte>.Shared.Rent(block.Length);
        try
        {
            ReadStored(block, stored);
            if (!block.Plain) return (stored, block.Length);
            byte[] data = FlistBlock.EncodeRented(stored.AsSpan(0, block.Length), block.Key, out int length);
            ArrayPool<byte>.Shared.Return(stored);
            stored = data;
            if (!FlistBlock.Hash(data.AsSpan(0, length)).AsSpan().SequenceEqual(block.Id))
                throw new InvalidDataException($"the block index maps key {Convert.ToHexStringLower(block.Key)} to a wrong id");
            return (data, length);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(stored);
            throw;
        }
    }

    /// <summary>The plain bytes of <paramref name="block"/> (decoded unless kept plain).</summary>
    internal byte[] ReadPlain(in SpooledBlock block)
    {
        var stored = new byte[block.Length];
        ReadStored(block, stored);
        return block.Plain ? stored : FlistBlock.Decode(stored, block.Key, block.Id);
    }

    /// <summary>Reads the bytes <paramref name="block"/> takes in the file into the start of <paramref name="destination"/>.</summary>
    private void ReadStored(in SpooledBlock block, byte[] destination)
    {
        // The file is only appended to and the block's bytes were written before it was handed out: a short read is a bug
        // or a broken disk, never a normal end.
        int n = RandomAccess.Read(_file, destination.AsSpan(0, block.Length), block.Offset);
        if (n != block.Length)
            throw new IOException($"the block spool ended at byte {block.Offset + n}, expected {block.Offset + block.Length}");
    }

    /// <summary>
    /// Stops the workers (failing contents still queued, and any begun later); the blocks already made still read back
    /// until <see cref="DisposeAsync"/>.
    /// </summary>
    public async ValueTask StopEncodingAsync()
    {
        _stopped = true;
        Interlocked.CompareExchange(ref _failure, new ObjectDisposedException(nameof(BlockSpool), "encoding has stopped"), null);
        _queue.Writer.TryComplete();
        await Task.WhenAll(_workers).ConfigureAwait(false);
    }

    /// <summary>Stops the workers and closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        await StopEncodingAsync().ConfigureAwait(false);
        _disposed = true;
        _file.Dispose();
    }

    private readonly record struct Chunk(SpooledContent Content, int Index, byte[] Buffer, int Length);
}

/// <summary>One block in a <see cref="BlockSpool"/>: its row values and where its bytes are.</summary>
/// <param name="Key">BLAKE2b-256 of the plain chunk.</param>
/// <param name="Id">The block's id.</param>
/// <param name="Offset">Where its bytes are in the spool file.</param>
/// <param name="Length">How many bytes it takes there.</param>
/// <param name="Plain">Kept as the plain chunk (its id known from the block index) rather than encoded.</param>
internal readonly record struct SpooledBlock(byte[] Key, byte[] Id, long Offset, int Length, bool Plain);

/// <summary>One file's content as blocks in a <see cref="BlockSpool"/>.</summary>
internal sealed class SpooledContent : EncodedContent
{
    private readonly BlockSpool _spool;
    private readonly TaskCompletionSource _encoded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _readLock = new();
    // The blocks in pages the appending thread adds as chunks come (workers fill them in, under _pagesLock): memory grows
    // with the bytes that came, not with the length a header claims.
    private readonly Lock _pagesLock = new();
    private readonly List<SpooledBlock[]> _pages = [];
    private int _count;
    private long _length, _appended;
    private byte[]? _chunk;
    private int _filled, _next;
    private bool _finished;
    private int _pending = 1; // chunks queued and not yet encoded, plus one while bytes are still to come
    private (int Index, byte[] Plain)? _lastRead;

    public SpooledContent(BlockSpool spool, long length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, BlockSpool.MaxContentLength);
        _spool = spool;
        _length = length;
    }

    public override long Length => _length;

    public override ContentEncoder Encoder => _spool;

    /// <summary>How many blocks the content has (final once <see cref="Encoded"/> completed).</summary>
    public int BlockCount => _count;

    /// <summary>Block <paramref name="index"/> (chunk by chunk), once <see cref="Encoded"/> completed.</summary>
    public SpooledBlock Block(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_count, nameof(index));
        return _pages[index >> PageShift][index & PageMask];
    }

    private const int PageShift = 10, PageMask = (1 << PageShift) - 1;

    public override Task Encoded => _encoded.Task;

    internal BlockSpool Spool => _spool;

    public override async ValueTask AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (data.Length > _length - _appended) throw new ArgumentException("more bytes than the content's length", nameof(data));
        while (!data.IsEmpty)
        {
            _chunk ??= _spool.Chunks.Rent((int)Math.Min(FlistBlock.ChunkSize, _length - _appended));
            int chunkLength = (int)Math.Min(FlistBlock.ChunkSize, _length - ((long)_next * FlistBlock.ChunkSize));
            int n = Math.Min(chunkLength - _filled, data.Length);
            data.Span[..n].CopyTo(_chunk.AsSpan(_filled));
            _filled += n;
            _appended += n;
            data = data[n..];
            if (_filled < chunkLength) continue;
            var chunk = _chunk;
            _chunk = null;
            _filled = 0;
            AddSlot();
            Interlocked.Increment(ref _pending);
            try
            {
                await _spool.QueueAsync(this, _next++, chunk, chunkLength, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                Fail(e);
                throw;
            }
        }
        if (_appended == _length) Finish();
    }

    public override void End()
    {
        if (_finished) return;
        if (_filled > 0)
        {
            AddSlot();
            Interlocked.Increment(ref _pending);
            var chunk = _chunk!;
            _chunk = null;
            _spool.EncodeNow(this, _next++, chunk, _filled);
            _filled = 0;
        }
        else if (_chunk is { } unused)
        {
            _chunk = null;
            _spool.Chunks.Return(unused);
        }
        _length = _appended;
        Finish();
    }

    /// <summary>Every byte came: drops the guard <see cref="_pending"/> holds while they come.</summary>
    private void Finish()
    {
        if (_finished) return;
        _finished = true;
        Release();
    }

    /// <summary>Makes room for block <see cref="_next"/> before it is queued (on the appending thread).</summary>
    private void AddSlot()
    {
        if ((_next & PageMask) == 0)
        {
            // A page as large as the chunks still to come need, at most 1024 blocks.
            long left = (_length - (long)_next * FlistBlock.ChunkSize + FlistBlock.ChunkSize - 1) / FlistBlock.ChunkSize;
            var page = new SpooledBlock[Math.Clamp(left, 1, 1 << PageShift)];
            lock (_pagesLock) _pages.Add(page);
        }
        _count = _next + 1;
    }

    internal void SetBlock(int index, SpooledBlock block)
    {
        SpooledBlock[] page;
        lock (_pagesLock) page = _pages[index >> PageShift];
        page[index & PageMask] = block;
        Release();
    }

    internal void Fail(Exception e) => _encoded.TrySetException(e);

    private void Release()
    {
        if (Interlocked.Decrement(ref _pending) == 0) _encoded.TrySetResult();
    }

    public override void ReadExactly(long offset, Span<byte> destination)
    {
        if (!_encoded.Task.IsCompletedSuccessfully) throw new InvalidOperationException("the content is not encoded yet");
        if (offset < 0 || offset + destination.Length > _length)
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"outside the content's {_length} bytes");
        while (!destination.IsEmpty)
        {
            int index = (int)(offset / FlistBlock.ChunkSize);
            int within = (int)(offset % FlistBlock.ChunkSize);
            byte[] plain;
            lock (_readLock)
            {
                if (_lastRead is not { } last || last.Index != index)
                    _lastRead = last = (index, _spool.ReadPlain(Block(index)));
                plain = last.Plain;
            }
            int n = Math.Min(destination.Length, plain.Length - within);
            if (n <= 0) throw new InvalidDataException($"block {index} of the content holds {plain.Length} bytes, less than expected");
            plain.AsSpan(within, n).CopyTo(destination);
            destination = destination[n..];
            offset += n;
            // A read that reached the end drops the block it kept for the next read: a reader of many files keeps none.
            if (offset == _length) lock (_readLock) _lastRead = null;
        }
    }
}
