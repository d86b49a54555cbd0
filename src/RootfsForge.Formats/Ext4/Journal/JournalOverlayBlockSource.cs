using RootfsForge.Disks;

namespace RootfsForge.Ext4.Journal;

/// <summary>
/// A filesystem device as it reads after journal replay: each replayed fs block reads from the journal block holding its
/// latest committed copy (with the escaped magic restored); every other block reads from the device. The map is two
/// sorted arrays (immutable, so concurrent reads are safe); data is read on demand. Disposing leaves the device open.
/// </summary>
internal sealed class JournalOverlayBlockSource : BlockSource
{
    private readonly BlockSource _device;
    private readonly int _blockSize;
    private readonly long[] _fsBlocks;

    // The journal copy's fs block, or its bitwise complement when the copy was escaped (JBD2_FLAG_ESCAPE).
    private readonly long[] _sources;

    public JournalOverlayBlockSource(BlockSource device, int blockSize, long[] fsBlocks, long[] sources)
    {
        _device = device;
        _blockSize = blockSize;
        _fsBlocks = fsBlocks;
        _sources = sources;
    }

    /// <summary>The number of filesystem blocks that read from the journal.</summary>
    public int ReplayedBlockCount => _fsBlocks.Length;

    /// <summary>The filesystem blocks that read from the journal, ascending.</summary>
    public IReadOnlyList<long> ReplayedBlocks => Array.AsReadOnly(_fsBlocks);

    public override long Length => _device.Length;

    public override int ReadAt(long offset, Span<byte> destination)
    {
        long length = _device.Length;
        if (offset < 0 || offset >= length) return 0;
        if (destination.Length > length - offset) destination = destination[..(int)(length - offset)];

        int done = 0;
        while (done < destination.Length)
        {
            long pos = offset + done;
            long block = pos / _blockSize;
            int inBlock = (int)(pos % _blockSize);
            int index = Array.BinarySearch(_fsBlocks, block);
            if (index >= 0)
            {
                int n = Math.Min(_blockSize - inBlock, destination.Length - done);
                ReadReplayed(index, inBlock, destination.Slice(done, n));
                done += n;
                continue;
            }

            // Read straight through to the next replayed block (or the end) in one device read.
            int nextReplayed = ~index;
            long stopAt = nextReplayed < _fsBlocks.Length ? _fsBlocks[nextReplayed] * _blockSize : long.MaxValue;
            int want = (int)Math.Min(destination.Length - done, stopAt - pos);
            int got = _device.ReadAt(pos, destination.Slice(done, want));
            if (got <= 0) break;
            done += got;
        }
        return done;
    }

    private void ReadReplayed(int index, int inBlock, Span<byte> destination)
    {
        long source = _sources[index];
        bool escaped = source < 0;
        if (escaped) source = ~source;
        _device.ReadExactlyAt(source * _blockSize + inBlock, destination);
        if (escaped && inBlock < 4)
        {
            // The journal stored this block with its first 4 bytes zeroed because they equalled the journal magic.
            Span<byte> magic = stackalloc byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(magic, JournalLayout.Magic);
            int n = Math.Min(4 - inBlock, destination.Length);
            magic.Slice(inBlock, n).CopyTo(destination);
        }
    }

    public override void Prefetch(long offset, long length) => _device.Prefetch(offset, length);

    public override IReadOnlyList<(long Offset, long Length)>? GetAllocatedRanges(long offset, long length)
    {
        var inner = _device.GetAllocatedRanges(offset, length);
        if (inner is null) return null;
        long end = offset + length;
        var ranges = new List<(long Offset, long Length)>(inner);
        int first = Array.BinarySearch(_fsBlocks, offset / _blockSize);
        if (first < 0) first = ~first;
        for (int i = first; i < _fsBlocks.Length && _fsBlocks[i] * _blockSize < end; i++)
        {
            long start = Math.Max(offset, _fsBlocks[i] * _blockSize);
            long stop = Math.Min(end, Math.Min(_fsBlocks[i] * _blockSize + _blockSize, Length));
            if (stop > start) ranges.Add((start, stop - start));
        }
        ranges.Sort((a, b) => a.Offset.CompareTo(b.Offset));
        var merged = new List<(long Offset, long Length)>(ranges.Count);
        foreach (var r in ranges)
        {
            if (merged.Count > 0 && merged[^1].Offset + merged[^1].Length >= r.Offset)
            {
                var last = merged[^1];
                merged[^1] = (last.Offset, Math.Max(last.Length, r.Offset + r.Length - last.Offset));
            }
            else
            {
                merged.Add(r);
            }
        }
        return merged;
    }

    public override string Describe() => $"{_device.Describe()} (with {_fsBlocks.Length} blocks replayed from the journal)";
}
