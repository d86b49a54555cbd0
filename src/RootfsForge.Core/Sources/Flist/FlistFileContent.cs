using RootfsForge.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;

namespace RootfsForge.Sources.Flist;

/// <summary>
/// A regular file of a <c>.fl</c>: block <c>offset / 512 KiB</c> fetched, decrypted and decompressed on demand, with a
/// few blocks fetched ahead concurrently for sequential readers.
/// </summary>
internal sealed class FlistFileContent(BlockRouter router, IReadOnlyList<FlistBlockRef> blocks, long length, string path)
    : FileContent
{
    private const int ReadAhead = 4;
    private readonly Dictionary<int, Task<byte[]>> _fetches = [];
    private readonly CancellationTokenSource _cts = new();
    private int _current = -1;
    private byte[] _plain = [];

    public override long Length => length;

    public override IReadOnlyList<DataSegment> GetDataSegments() => length == 0 ? [] : [new DataSegment(0, length)];

    public override async ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (offset >= length || destination.IsEmpty) return 0;
        int index = (int)(offset / FlistBlock.ChunkSize);
        if (index != _current) await LoadAsync(index, cancellationToken).ConfigureAwait(false);
        int within = (int)(offset - (long)index * FlistBlock.ChunkSize);
        int n = Math.Min(destination.Length, _plain.Length - within);
        _plain.AsMemory(within, n).CopyTo(destination);
        return n;
    }

    private async ValueTask LoadAsync(int index, CancellationToken cancellationToken)
    {
        for (int k = index; k < Math.Min(blocks.Count, index + ReadAhead); k++)
            if (!_fetches.ContainsKey(k)) _fetches[k] = FetchAsync(k);
        foreach (var stale in _fetches.Keys.Where(k => k < index).ToList()) Forget(_fetches[stale], stale);
        var task = _fetches[index];
        _fetches.Remove(index);
        _plain = await task.WaitAsync(cancellationToken).ConfigureAwait(false);
        _current = index;
    }

    private void Forget(Task<byte[]> task, int index)
    {
        _fetches.Remove(index);
        task.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
    }

    private async Task<byte[]> FetchAsync(int index)
    {
        var token = _cts.Token;
        await Task.Yield(); // fetches run concurrently with the reader
        var b = blocks[index];
        byte[] data;
        try
        {
            data = await router.GetAsync(b.Id, token).ConfigureAwait(false);
        }
        catch (BlockStoreException e)
        {
            throw new BlockStoreException($"{path}: block {index}: {e.Message}", e);
        }
        catch (ImageFormatException e)
        {
            throw new ImageFormatException($"{path}: block {index}: {e.Reason}", e.Structure, e.Offset, e, e.Kind);
        }
        byte[] plain = FlistBlock.Decode(data, b.Key, b.Id);
        long expected = Math.Min(FlistBlock.ChunkSize, length - (long)index * FlistBlock.ChunkSize);
        if (plain.Length != expected)
            throw new ImageFormatException($"{path}: block {index} holds {plain.Length} bytes, expected {expected}",
                $"block {Convert.ToHexStringLower(b.Id)}");
        return plain;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _cts.Cancel();
            foreach (var (index, task) in _fetches.ToList()) Forget(task, index);
            _cts.Dispose();
        }
        base.Dispose(disposing);
    }
}
