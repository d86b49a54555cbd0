using RootfsForge.Disks;
using RootfsForge.Tree;

namespace RootfsForge.Ext4;

/// <summary>A regular file's content over its written block runs; everything else reads as zeros (docs/disk-formats.md §3.5).</summary>
internal sealed class Ext4FileContent : FileContent
{
    private readonly BlockSource _device;
    private readonly DataMap _map;
    private readonly int _blockSize;
    private readonly long _deviceBlocks;
    private IReadOnlyList<DataSegment>? _segments;

    public Ext4FileContent(Ext4Volume volume, DataMap map)
    {
        _device = volume.Device;
        _map = map;
        _blockSize = volume.BlockSize;
        _deviceBlocks = (long)volume.Superblock.BlocksCount;
    }

    public override long Length => _map.Size;

    public override IReadOnlyList<DataSegment> GetDataSegments()
    {
        if (_segments is not null) return _segments;
        var list = new List<DataSegment>(_map.Runs.Length);
        foreach (var run in _map.Runs)
        {
            long start = run.Logical * _blockSize;
            long end = Math.Min(run.LogicalEnd * _blockSize, _map.Size);
            if (end <= start) continue;
            // Runs are merged when physically contiguous; logically adjacent runs still form one data segment.
            if (list.Count > 0 && list[^1].End == start) list[^1] = new DataSegment(list[^1].Offset, end - list[^1].Offset);
            else list.Add(new DataSegment(start, end - start));
        }
        return _segments = list;
    }

    public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
        new(ReadAt(offset, destination.Span));

    /// <summary>Reads exactly <paramref name="destination"/>.Length bytes (symlink targets, xattr values in EA inodes).</summary>
    internal void ReadExactlyAt(long offset, Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int n = ReadAt(offset + done, destination[done..]);
            if (n <= 0) throw new EndOfStreamException($"file content ended at {offset + done} of {Length}");
            done += n;
        }
    }

    /// <summary>The synchronous read behind <see cref="ReadAtAsync"/>: local data, no waiting.</summary>
    internal int ReadAt(long offset, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (offset >= _map.Size || destination.IsEmpty) return 0;
        if (destination.Length > _map.Size - offset) destination = destination[..(int)(_map.Size - offset)];
        int total = destination.Length;
        int run = _map.FindRun(offset / _blockSize);
        while (!destination.IsEmpty)
        {
            long block = offset / _blockSize;
            while (run < _map.Runs.Length && _map.Runs[run].LogicalEnd <= block) run++;
            if (run >= _map.Runs.Length || _map.Runs[run].Logical > block)
            {
                // A hole up to the next run (or the end).
                long holeEnd = run < _map.Runs.Length ? _map.Runs[run].Logical * _blockSize : long.MaxValue;
                int n = (int)Math.Min(destination.Length, holeEnd - offset);
                destination[..n].Clear();
                destination = destination[n..];
                offset += n;
                continue;
            }
            var r = _map.Runs[run];
            long physical = (r.Physical + (block - r.Logical)) * _blockSize + offset % _blockSize;
            long runEndByte = r.LogicalEnd * _blockSize;
            int len = (int)Math.Min(destination.Length, runEndByte - offset);
            var part = destination[..len];
            int got = 0;
            while (got < len)
            {
                int k = _device.ReadAt(physical + got, part[got..]);
                if (k <= 0) break;
                got += k;
            }
            if (got < len) part[got..].Clear(); // past the end of a truncated device
            destination = destination[len..];
            offset += len;
        }
        return total;
    }

    public override void Prefetch(long offset, long length)
    {
        if (offset < 0 || length <= 0 || offset >= _map.Size) return;
        long end = Math.Min(_map.Size, offset + length);
        int run = _map.FindRun(offset / _blockSize);
        for (; run < _map.Runs.Length; run++)
        {
            var r = _map.Runs[run];
            long start = Math.Max(r.Logical * _blockSize, offset);
            long stop = Math.Min(r.LogicalEnd * _blockSize, end);
            if (start >= end) break;
            if (stop <= start) continue;
            long physical = (r.Physical - r.Logical) * _blockSize + start;
            if (physical / _blockSize < _deviceBlocks) _device.Prefetch(physical, stop - start);
        }
    }
}
