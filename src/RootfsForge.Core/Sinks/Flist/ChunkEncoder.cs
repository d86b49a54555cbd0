using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using RootfsForge.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Flist;

/// <summary>One regular file of a <see cref="FlistSink"/> whose chunks are being encoded.</summary>
internal sealed class PendingFile
{
    private readonly TaskCompletionSource _encoded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _remaining;

    public PendingFile(long ino, int count, long length)
    {
        Ino = ino;
        Length = length;
        Blocks = new FlistBlockRef[count];
        _remaining = count;
        if (count == 0) _encoded.SetResult();
    }

    public long Ino { get; }

    public long Length { get; }

    public FlistBlockRef[] Blocks { get; }

    /// <summary>Inode rows of hard links to this file, written with its block rows.</summary>
    public List<long> Aliases { get; } = [];

    /// <summary>Completes once every block reference is known.</summary>
    public Task Encoded => _encoded.Task;

    /// <summary>True once the block rows (of the file and its hard links) are written.</summary>
    public bool Drained { get; set; }

    public void SetBlock(int index, FlistBlockRef block)
    {
        Blocks[index] = block;
        if (Interlocked.Decrement(ref _remaining) == 0) _encoded.TrySetResult();
    }
}

/// <summary>
/// A file's content shared by the sink and the workers that read its chunks; disposed when the last of them releases it.
/// </summary>
internal sealed class SharedContent(FileContent content, string path)
{
    private int _references = 1;

    public FileContent Content => content;

    /// <summary>The entry's path, for errors.</summary>
    public string Path => path;

    public void AddReference() => Interlocked.Increment(ref _references);

    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0) content.Dispose();
    }
}

/// <summary>
/// The block pipeline of a <see cref="FlistSink"/> (docs/flist-format.md §3): chunks queue into a bounded channel and
/// a pool of workers hashes, compresses and encrypts them on all cores, hands each block to the
/// <see cref="BlockUploader"/> and records its reference in the file it belongs to. An all-zero chunk (a hole, or
/// zeros read) is encoded once per length and reused; a chunk whose key the <see cref="BlockIdIndex"/> knows is only
/// hashed (its id is known; the uploader encodes it only if a store lacks the block). Chunks of contents that can be read
/// concurrently (<see cref="FileContent.SupportsConcurrentReads"/>) are read by the workers too, so reading is spread
/// over the cores instead of bounding the sink's one thread.
/// </summary>
internal sealed class ChunkEncoder
{
    private readonly Channel<Chunk> _chunks;
    private readonly Task[] _workers;
    private readonly BlockUploader _uploader;
    private readonly FlistCounters _counters;
    private readonly BlockIdIndex _index;
    private readonly ConcurrentDictionary<int, EncodedBlock> _zeroBlocks = [];

    public ChunkEncoder(int workers, BlockUploader uploader, BlockIdIndex index, FlistCounters counters)
    {
        _uploader = uploader;
        _index = index;
        _counters = counters;
        workers = Math.Max(1, workers);
        // Eight chunks per worker: enough that the walk can run ahead of the hashing over a stretch of small files (most
        // queued chunks are read by the workers and hold no buffer); at most 4 MiB of buffers per worker otherwise.
        _chunks = Channel.CreateBounded<Chunk>(new BoundedChannelOptions(workers * 8)
        {
            SingleWriter = true, FullMode = BoundedChannelFullMode.Wait,
        });
        _workers = new Task[workers];
        for (int i = 0; i < workers; i++) _workers[i] = Task.Run(WorkAsync);
    }

    /// <summary>
    /// Queues chunk <paramref name="index"/> of <paramref name="file"/>; takes ownership of <paramref name="buffer"/>
    /// (rented from the shared array pool). All-zero chunks are not queued: their block is known.
    /// </summary>
    public async ValueTask SubmitAsync(PendingFile file, int index, byte[] buffer, int length, CancellationToken cancellationToken)
    {
        if (buffer.AsSpan(0, length).IndexOfAnyExcept((byte)0) < 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            await SubmitZerosAsync(file, index, length, cancellationToken).ConfigureAwait(false);
            return;
        }
        await QueueAsync(new Chunk(file, index, buffer, length, null, 0), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Queues chunk <paramref name="index"/> of <paramref name="file"/>, <paramref name="length"/> bytes at
    /// <paramref name="offset"/> of <paramref name="content"/>, for a worker to read; holds a reference to the content
    /// until it has been read.
    /// </summary>
    public async ValueTask SubmitReadAsync(PendingFile file, int index, SharedContent content, long offset, int length,
        CancellationToken cancellationToken)
    {
        content.AddReference();
        await QueueAsync(new Chunk(file, index, null, length, content, offset), cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask QueueAsync(Chunk chunk, CancellationToken cancellationToken)
    {
        // The wait for room in the queue also ends when an upload failed: the workers have stopped reading then, and a
        // wait on the caller's token alone would never end (a store refusing uploads hung the build).
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _uploader.Aborted);
        try
        {
            await _chunks.Writer.WriteAsync(chunk, linked.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Release(chunk);
            if (e is OperationCanceledException && !cancellationToken.IsCancellationRequested) _uploader.ThrowIfFailed();
            throw;
        }
    }

    private static void Release(Chunk chunk)
    {
        if (chunk.Buffer is { } buffer) ArrayPool<byte>.Shared.Return(buffer);
        chunk.Content?.Release();
    }

    /// <summary>Records chunk <paramref name="index"/> of <paramref name="file"/> as <paramref name="length"/> zeros.</summary>
    public async ValueTask SubmitZerosAsync(PendingFile file, int index, int length, CancellationToken cancellationToken)
    {
        await RecordAsync(file, index, length, ZeroBlock(length), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The block of <paramref name="length"/> zeros, encoded once (two workers may both encode it first: same bytes).</summary>
    private EncodedBlock ZeroBlock(int length)
    {
        if (_zeroBlocks.TryGetValue(length, out var block)) return block;
        var zeros = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            zeros.AsSpan(0, length).Clear();
            return _zeroBlocks.GetOrAdd(length, FlistBlock.Encode(zeros.AsSpan(0, length)));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(zeros);
        }
    }

    /// <summary>Ends the input and waits for every queued chunk to be encoded.</summary>
    public async Task CompleteAsync()
    {
        _chunks.Writer.TryComplete();
        await Task.WhenAll(_workers).ConfigureAwait(false);
    }

    /// <summary>Stops the workers and returns the buffers of chunks still queued.</summary>
    public async Task AbortAsync()
    {
        _chunks.Writer.TryComplete();
        try
        {
            await Task.WhenAll(_workers).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException or IOException or BlockStoreException)
        {
        }
        while (_chunks.Reader.TryRead(out var chunk)) Release(chunk);
    }

    private async Task WorkAsync()
    {
        var token = _uploader.Aborted;
        try
        {
            await foreach (var chunk in _chunks.Reader.ReadAllAsync(token).ConfigureAwait(false))
                await EncodeAsync(chunk, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The uploader failed or the build was aborted: the failure surfaces through the uploader.
        }
        catch (Exception e)
        {
            _uploader.Fail(e); // one failure channel: the sink sees it through the uploader
        }
    }

    private async ValueTask EncodeAsync(Chunk chunk, CancellationToken cancellationToken)
    {
        if (chunk.Content is { } content)
        {
            byte[] read = ArrayPool<byte>.Shared.Rent(chunk.Length);
            try
            {
                await content.Content.ReadExactlyAtAsync(chunk.Offset, read.AsMemory(0, chunk.Length), cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                ArrayPool<byte>.Shared.Return(read);
                throw new ContentReadException(e is EndOfStreamException
                    ? new IOException($"{content.Path}: content ended early at byte {chunk.Offset} of {content.Content.Length}", e)
                    : e);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(read);
                throw;
            }
            finally
            {
                content.Release();
            }
            if (read.AsSpan(0, chunk.Length).IndexOfAnyExcept((byte)0) < 0)
            {
                ArrayPool<byte>.Shared.Return(read);
                await RecordAsync(chunk.File, chunk.Index, chunk.Length, ZeroBlock(chunk.Length), cancellationToken).ConfigureAwait(false);
                return;
            }
            chunk = chunk with { Buffer = read, Content = null };
        }
        byte[] buffer = chunk.Buffer!;
        ChunkBlock block;
        try
        {
            block = EncodeChunk(buffer.AsSpan(0, chunk.Length), _index);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
        Count(chunk.Length);
        chunk.File.SetBlock(chunk.Index, new FlistBlockRef(block.Id, block.Key));
        if (block.Data is null)
        {
            Interlocked.Increment(ref _counters.BlocksKnown);
            await _uploader.SubmitKnownAsync(block.Id, block.Key, buffer, chunk.Length, cancellationToken).ConfigureAwait(false);
            return;
        }
        ArrayPool<byte>.Shared.Return(buffer);
        await _uploader.SubmitRentedAsync(block.Id, block.Data, block.Length, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// One chunk's block (docs/flist-format.md §3): its id from <paramref name="index"/> when the index knows the chunk's
    /// key (nothing encoded: a store that lacks the block gets it encoded then), else encoded into a buffer rented from
    /// <see cref="ArrayPool{T}.Shared"/> (the caller returns it) and recorded in the index. Shared by this encoder and
    /// <see cref="BlockSpool"/>.
    /// </summary>
    internal static ChunkBlock EncodeChunk(ReadOnlySpan<byte> plain, BlockIdIndex index)
    {
        byte[] key = FlistBlock.Hash(plain);
        if (index.TryGetId(key, out var known)) return new ChunkBlock(key, known, null, 0);
        byte[] data = FlistBlock.EncodeRented(plain, key, out int length);
        byte[] id;
        try
        {
            id = FlistBlock.Hash(data.AsSpan(0, length));
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(data);
            throw;
        }
        index.Add(key, id);
        return new ChunkBlock(key, id, data, length);
    }

    private async ValueTask RecordAsync(PendingFile file, int index, int length, EncodedBlock block, CancellationToken cancellationToken)
    {
        Count(length);
        file.SetBlock(index, new FlistBlockRef(block.Id, block.Key));
        await _uploader.SubmitAsync(block, cancellationToken).ConfigureAwait(false);
    }

    private void Count(int length)
    {
        Interlocked.Increment(ref _counters.Blocks);
        Interlocked.Add(ref _counters.BytesIn, length);
    }

    /// <summary>A chunk read by the sink (<paramref name="Buffer"/>, rented) or to be read by a worker (<paramref name="Content"/>).</summary>
    private readonly record struct Chunk(PendingFile File, int Index, byte[]? Buffer, int Length, SharedContent? Content, long Offset);
}

/// <summary>
/// A worker's read of a source failed: the input's fault, not a store's, so the sink rethrows
/// <see cref="Exception.InnerException"/> as it is (see <see cref="BlockUploader.ThrowIfFailed"/>).
/// </summary>
internal sealed class ContentReadException(Exception inner) : Exception(inner.Message, inner);

/// <summary>What <see cref="ChunkEncoder.EncodeChunk"/> made of a chunk.</summary>
/// <param name="Key">BLAKE2b-256 of the plain chunk.</param>
/// <param name="Id">The block's id.</param>
/// <param name="Data">The encoded block in its first <paramref name="Length"/> bytes (rented); null when the id came from the block index.</param>
/// <param name="Length">How many bytes of <paramref name="Data"/> the block takes.</param>
internal readonly record struct ChunkBlock(byte[] Key, byte[] Id, byte[]? Data, int Length);
