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
    private readonly ConcurrentDictionary<string, byte> _seenIds = new(StringComparer.Ordinal);
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
        ThrowIfFailed();
        if (!_seenIds.TryAdd(Convert.ToHexStringLower(block.Id), 0))
        {
            Interlocked.Increment(ref _counters.BlocksDuplicate);
            return;
        }
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
        _ = UploadAsync(block.Id, block.Data);
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

    private async Task UploadAsync(byte[] id, byte[] data)
    {
        try
        {
            foreach (var store in _router.StoresFor(id))
            {
                if (await store.ExistsAsync(id, _abort.Token).ConfigureAwait(false))
                {
                    Interlocked.Increment(ref _counters.BlocksAlreadyPresent);
                    continue;
                }
                await store.PutAsync(id, data, _abort.Token).ConfigureAwait(false);
                Interlocked.Increment(ref _counters.BlocksUploaded);
                Interlocked.Add(ref _counters.BytesStored, data.Length);
            }
        }
        catch (Exception e)
        {
            Fail(e);
        }
        finally
        {
            _slots.Release();
        }
    }

    private void Fail(Exception e)
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

    private void ThrowIfFailed()
    {
        var f = Volatile.Read(ref _failure);
        if (f is null) return;
        if (f is BlockStoreException or ImageFormatException) throw new BlockStoreException(f.Message, f);
        throw new IOException($"flist build failed: {f.Message}", f);
    }
}
