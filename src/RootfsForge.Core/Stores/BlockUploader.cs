using System.Runtime.ExceptionServices;
using System.Collections.Concurrent;
using RootfsForge.Flist;
using RootfsForge.Sinks.Flist;

namespace RootfsForge.Stores;

/// <summary>
/// Puts encoded blocks into every store covering their id (docs/flist-format.md §5): each distinct id once per build, a
/// bounded number of writes in flight, and a block a store already holds is not sent again (EXISTS/HEAD first). The
/// first failure stops every upload; <see cref="SubmitAsync"/> and <see cref="CompleteAsync"/> rethrow it.
/// </summary>
internal sealed class BlockUploader
{
    private readonly BlockRouter _router;
    private readonly FlistCounters _counters;
    private readonly SemaphoreSlim _slots;
    private readonly int _maxInFlight;
    private readonly CancellationTokenSource _abort = new();
    private readonly ConcurrentDictionary<HashKey, byte> _seenIds = new();
    private Exception? _failure;

    public BlockUploader(BlockRouter router, int maxInFlight, FlistCounters counters)
    {
        _router = router;
        _counters = counters;
        _maxInFlight = Math.Max(1, maxInFlight);
        _slots = new SemaphoreSlim(_maxInFlight);
    }

    /// <summary>Cancelled when an upload failed or the build was aborted; workers feeding this uploader watch it.</summary>
    public CancellationToken Aborted => _abort.Token;

    /// <summary>
    /// Starts storing <paramref name="block"/> unless this build stored its id already; waits while the in-flight limit is
    /// reached. Returns once the upload has started (it runs on).
    /// </summary>
    public async ValueTask SubmitAsync(EncodedBlock block, CancellationToken cancellationToken)
    {
        if (!await ClaimAsync(block.Id, cancellationToken).ConfigureAwait(false)) return;
        _ = UploadAsync(block.Id, () => block.Data, release: null, stored: null);
    }

    /// <summary>
    /// Like <see cref="SubmitAsync"/> for a block held in the first <paramref name="length"/> bytes of
    /// <paramref name="data"/>, rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/>: takes ownership and returns it
    /// once every store has it. After a failed or cancelled upload the buffer is left to the garbage collector instead: a
    /// store's request may still be reading it, and a reused buffer could then put wrong bytes under a block's id.
    /// </summary>
    public async ValueTask SubmitRentedAsync(byte[] id, byte[] data, int length, CancellationToken cancellationToken)
    {
        if (!await ClaimOrReturnAsync(id, data, cancellationToken).ConfigureAwait(false)) return;
        _ = UploadAsync(id, () => data.AsMemory(0, length), release: null,
            stored: () => System.Buffers.ArrayPool<byte>.Shared.Return(data));
    }

    /// <summary>
    /// Like <see cref="SubmitAsync"/> for a block whose bytes are loaded only when a store lacks it: <paramref name="load"/>
    /// returns them in the first bytes of a buffer rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/>, which is
    /// returned once every store has the block (after a failure it is left to the garbage collector, as in
    /// <see cref="SubmitRentedAsync"/>).
    /// </summary>
    public async ValueTask SubmitLoadedAsync(byte[] id, Func<(byte[] Buffer, int Length)> load, CancellationToken cancellationToken)
    {
        if (!await ClaimAsync(id, cancellationToken).ConfigureAwait(false)) return;
        byte[]? rented = null;
        // On the thread pool: a local store's writes complete synchronously, and the caller (the sink's walk) would
        // otherwise make them one at a time.
        _ = Task.Run(() => UploadAsync(id, () =>
        {
            var (buffer, length) = load();
            rented = buffer;
            return buffer.AsMemory(0, length);
        }, release: null, stored: () =>
        {
            if (rented is not null) System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }), CancellationToken.None);
    }

    /// <summary>
    /// Like <see cref="SubmitAsync"/> for a chunk whose block id is already known (<see cref="BlockIdIndex"/>): the
    /// block is encoded from <paramref name="chunk"/> only if a store turns out not to hold it. Takes ownership of the
    /// pooled <paramref name="chunk"/> buffer and returns it when done.
    /// </summary>
    public async ValueTask SubmitKnownAsync(byte[] id, byte[] key, byte[] chunk, int length, CancellationToken cancellationToken)
    {
        if (!await ClaimOrReturnAsync(id, chunk, cancellationToken).ConfigureAwait(false)) return;
        _ = UploadAsync(id, () =>
        {
            var block = FlistBlock.Encode(chunk.AsSpan(0, length), key);
            if (!block.Id.AsSpan().SequenceEqual(id))
                throw new InvalidDataException($"the block index maps key {Convert.ToHexStringLower(key)} to a wrong id");
            Interlocked.Increment(ref _counters.BlocksEncodedLate);
            return block.Data;
        }, release: () => System.Buffers.ArrayPool<byte>.Shared.Return(chunk), stored: null);
    }

    /// <summary>
    /// <see cref="ClaimAsync"/> for a caller that hands over the pooled <paramref name="buffer"/>: returns it to the pool
    /// when the block needs no upload or the wait failed.
    /// </summary>
    private async ValueTask<bool> ClaimOrReturnAsync(byte[] id, byte[] buffer, CancellationToken cancellationToken)
    {
        bool claimed = false;
        try
        {
            claimed = await ClaimAsync(id, cancellationToken).ConfigureAwait(false);
            return claimed;
        }
        finally
        {
            if (!claimed) System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>True when this build has not seen <paramref name="id"/> yet; then waits for an upload slot.</summary>
    private async ValueTask<bool> ClaimAsync(byte[] id, CancellationToken cancellationToken)
    {
        ThrowIfFailed();
        if (!_seenIds.TryAdd(HashKey.From(id), 0))
        {
            Interlocked.Increment(ref _counters.BlocksDuplicate);
            return false;
        }
        if (_slots.Wait(0)) return true; // a free slot: no linked token to make (this runs once per block)
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _abort.Token);
        try
        {
            await _slots.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            ThrowIfFailed();
            throw;
        }
        return true;
    }

    /// <summary>Waits until every started upload has ended; rethrows the first failure.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        using (cancellationToken.Register(static a => ((CancellationTokenSource)a!).Cancel(), _abort))
        {
            // Every upload holds a slot: owning them all means every upload has ended.
            for (int i = 0; i < _maxInFlight; i++) await _slots.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        }
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfFailed();
    }

    /// <summary>Stops every upload (the build was abandoned).</summary>
    public void Abort() => Fail(new OperationCanceledException("the flist build was aborted"));

    /// <summary>
    /// Stores the block in every store that lacks it. <paramref name="release"/> runs at the end whatever happened;
    /// <paramref name="stored"/> only when every store has the block.
    /// </summary>
    private async Task UploadAsync(byte[] id, Func<ReadOnlyMemory<byte>> data, Action? release, Action? stored)
    {
        try
        {
            ReadOnlyMemory<byte>? bytes = null;
            foreach (var store in _router.StoresFor(id))
            {
                if (await store.ExistsAsync(id, _abort.Token).ConfigureAwait(false))
                {
                    Interlocked.Increment(ref _counters.BlocksAlreadyPresent);
                    continue;
                }
                bytes ??= data();
                await store.PutAsync(id, bytes.Value, _abort.Token).ConfigureAwait(false);
                Interlocked.Increment(ref _counters.BlocksUploaded);
                Interlocked.Add(ref _counters.BytesStored, bytes.Value.Length);
            }
            stored?.Invoke();
        }
        catch (Exception e)
        {
            Fail(e);
        }
        finally
        {
            release?.Invoke();
            _slots.Release();
        }
    }

    /// <summary>Records the first failure of the build (an upload's, or a worker's) and stops every upload.</summary>
    public void Fail(Exception e)
    {
        if (e is OperationCanceledException && _abort.IsCancellationRequested) return;
        Interlocked.CompareExchange(ref _failure, e, null);
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Rethrows the first failure, if any.</summary>
    public void ThrowIfFailed()
    {
        var f = Volatile.Read(ref _failure);
        if (f is null) return;
        if (f is Sinks.Flist.ContentReadException { InnerException: { } read }) ExceptionDispatchInfo.Throw(read);
        if (f is BlockStoreException or ImageFormatException) throw new BlockStoreException(f.Message, f);
        throw new IOException($"flist build failed: {f.Message}", f);
    }
}
