namespace RootfsForge.Ext4;

/// <summary>One run of mapped, written blocks: logical blocks [Logical, Logical+Count) live at physical [Physical, …).</summary>
internal readonly record struct BlockRun(long Logical, long Physical, long Count)
{
    public long LogicalEnd => Logical + Count;
}

/// <summary>
/// The written blocks of one inode below its size, ascending and merged. Everything else (gaps, unwritten extents, zero
/// block pointers) is a hole (docs/disk-formats.md §3.5).
/// </summary>
internal sealed partial class DataMap
{
    /// <summary>Upper bound on runs kept for one inode (bounded memory on corrupt or absurdly fragmented files).</summary>
    internal const int MaxRuns = 1 << 21;

    public DataMap(BlockRun[] runs, long size) { Runs = runs; Size = size; }

    public BlockRun[] Runs { get; }
    public long Size { get; }

    /// <summary>Index of the first run ending after <paramref name="block"/>, or Runs.Length.</summary>
    public int FindRun(long block)
    {
        int lo = 0, hi = Runs.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Runs[mid].LogicalEnd <= block) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /// <summary>Collects runs in logical order, merging neighbours and enforcing order and the run cap.</summary>
    /// <param name="inode">The inode mapped, for messages.</param>
    /// <param name="blockLimit">The first logical block past i_size.</param>
    internal sealed class Builder(Inode inode, long blockLimit)
    {
        private readonly List<BlockRun> _runs = [];

        /// <summary>Logical blocks at or above this are past i_size and ignored.</summary>
        public long BlockLimit { get; } = blockLimit;

        public void Add(long logical, long physical, long count)
        {
            if (count <= 0 || logical >= BlockLimit) return;
            if (logical + count > BlockLimit) count = BlockLimit - logical;
            if (_runs.Count > 0)
            {
                var last = _runs[^1];
                if (logical < last.LogicalEnd)
                    throw new ImageFormatException(
                        $"block mappings overlap or are out of order at logical block {logical}", $"ext4 inode {inode.Number}", inode.Offset);
                if (logical == last.LogicalEnd && physical == last.Physical + last.Count)
                {
                    _runs[^1] = last with { Count = last.Count + count };
                    return;
                }
            }
            if (_runs.Count >= MaxRuns)
                throw new ImageFormatException($"more than {MaxRuns} separate block runs", $"ext4 inode {inode.Number}", inode.Offset,
                    kind: ImageErrorKind.LimitExceeded);
            _runs.Add(new BlockRun(logical, physical, count));
        }

        /// <summary>The logical block just past the last run added (0 when none).</summary>
        public long LastEnd => _runs.Count == 0 ? 0 : _runs[^1].LogicalEnd;

        public BlockRun[] ToArray() => _runs.ToArray();
    }
}
