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
    private int _current = -1;
    private byte[] _plain = [];
    private readonly CancellationTokenSource _cts = new();

    public override long Length => length;

    public override IReadOnlyList<DataSegment> GetDataSegments() => length == 0 ? [] : [new DataSegment(0, length)];

    public override int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        if (offset >= length || destination.IsEmpty) return 0;
        int index = (int)(offset / FlistBlock.ChunkSize);
        if (index != _current) Load(index);
        int within = (int)(offset - (long)index * FlistBlock.ChunkSize);
        int n = Math.Min(destination.Length, _plain.Length - within);
        _plain.AsSpan(within, n).CopyTo(destination);
        return n;
    }

    private void Load(int index)
    {
        for (int k = index; k < Math.Min(blocks.Count, index + ReadAhead); k++)
            if (!_fetches.ContainsKey(k)) _fetches[k] = Fetch(k);
        foreach (var stale in _fetches.Keys.Where(k => k < index).ToList()) _fetches.Remove(stale);
        var task = _fetches[index];
        _fetches.Remove(index);
        _plain = task.GetAwaiter().GetResult();
        _current = index;
    }

    private Task<byte[]> Fetch(int index) => Task.Run(async () =>
    {
        var b = blocks[index];
        byte[] data;
        try
        {
            data = await router.GetAsync(b.Id, _cts.Token).ConfigureAwait(false);
        }
        catch (BlockStoreException e)
        {
            throw new BlockStoreException($"{path}: block {index}: {e.Message}", e);
        }
        byte[] plain = FlistBlock.Decode(data, b.Key, b.Id);
        long expected = Math.Min(FlistBlock.ChunkSize, length - (long)index * FlistBlock.ChunkSize);
        if (plain.Length != expected)
            throw new ImageFormatException($"{path}: block {index} holds {plain.Length} bytes, expected {expected}",
                $"block {Convert.ToHexStringLower(b.Id)}");
        return plain;
    });

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _cts.Cancel();
            foreach (var t in _fetches.Values) t.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
            _fetches.Clear();
        }
        base.Dispose(disposing);
    }
}
