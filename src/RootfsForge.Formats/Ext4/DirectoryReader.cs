using System.Buffers;
using System.Buffers.Binary;
using RootfsForge.Tree;

namespace RootfsForge.Ext4;

/// <summary>
/// Lists a directory's live entries in on-disk order (docs/disk-formats.md §3.7): block directories scanned linearly
/// (htree index blocks read as the empty dirents they hold), inline directories (docs/disk-formats.md §3.6), and, with
/// checksum verification, each block's metadata_csum (a leaf's dirent tail, an htree block's dx_tail).
/// </summary>
internal sealed class DirectoryReader(Ext4Volume volume, XattrReader xattrs)
{
    /// <summary>Directories with more entries than this are truncated with a warning (bounded memory).</summary>
    internal const int MaxEntries = 8_000_000;

    /// <summary>Directories mapping more than this many bytes are refused (about 30 million entries; bounds reading time).</summary>
    internal const long MaxBytes = 1L << 30;

    /// <summary>Blocks read with one device call.</summary>
    private const int ChunkBlocks = 64;

    /// <summary>All live entries of <paramref name="dir"/> in on-disk order, names unchecked. Damaged blocks are read up to the damage, with a warning.</summary>
    /// <param name="dir">The directory inode.</param>
    /// <param name="path">Its path, for warnings.</param>
    public List<DirectoryEntry> Read(Inode dir, string path)
    {
        var list = new List<DirectoryEntry>();
        if (dir.HasFlag(Inode.Flag.Encrypt)) return list;
        bool fileType = (volume.Superblock.Incompat & IncompatFeatures.FileType) != 0;
        if (dir.HasFlag(Inode.Flag.InlineData))
        {
            ReadInline(dir, path, fileType, list);
            return list;
        }

        var map = DataMap.Read(volume, dir);
        int bs = volume.BlockSize;
        long mapped = 0;
        foreach (var run in map.Runs) mapped += run.Count;
        string what = $"ext4 inode {dir.Number} directory";
        if (mapped > MaxBytes / bs)
            throw new ImageFormatException($"the directory maps {mapped} blocks, more than {MaxBytes} bytes", what, dir.Offset,
                kind: ImageErrorKind.LimitExceeded);
        byte[] buf = ArrayPool<byte>.Shared.Rent(bs * ChunkBlocks);
        try
        {
            uint seed = volume.Verify ? volume.InodeSeed(dir) : 0;
            // Htree internal blocks carry a dx_tail, not the leaf's dirent tail (DxNode); only indexed directories have them.
            bool indexed = dir.HasFlag(Inode.Flag.Index) && (volume.Superblock.Compat & CompatFeatures.DirIndex) != 0;
            foreach (var run in map.Runs)
            {
                for (long b = 0; b < run.Count; b += ChunkBlocks)
                {
                    int n = (int)Math.Min(ChunkBlocks, run.Count - b);
                    var span = buf.AsSpan(0, n * bs);
                    volume.ReadBlocks(run.Physical + b, span, what);
                    for (int i = 0; i < n; i++)
                    {
                        var block = span.Slice(i * bs, bs);
                        long logical = run.Logical + b + i;
                        if (volume.Verify) VerifyBlock(dir, seed, indexed, block, logical, (run.Physical + b + i) * bs);
                        string? problem = DirectoryEntry.ParseBlock(block, bs, fileType, list, MaxEntries);
                        if (problem is not null)
                            volume.Warn($"{TreePath.Display(path)}: directory block {logical}: {problem}; rest of the block skipped");
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
        return list;
    }

    /// <summary>
    /// An inline directory (docs/disk-formats.md §3.6): i_block[0..4] is the parent, i_block[4..60] one dirent area,
    /// system.data a second.
    /// </summary>
    private void ReadInline(Inode dir, string path, bool fileType, List<DirectoryEntry> list)
    {
        var area = dir.BlockArea[4..];
        string? problem = DirectoryEntry.ParseBlock(area, area.Length, fileType, list, MaxEntries);
        if (problem is not null) volume.Warn($"{TreePath.Display(path)}: inline directory: {problem}; rest of the area skipped");
        var systemData = xattrs.ReadSystemData(dir);
        if (systemData is { Length: > 0 })
        {
            problem = DirectoryEntry.ParseBlock(systemData, systemData.Length, fileType, list, MaxEntries);
            if (problem is not null) volume.Warn($"{TreePath.Display(path)}: inline directory (system.data): {problem}; rest skipped");
        }
    }

    /// <summary>
    /// Checks one directory block's metadata_csum the way the kernel classifies it: an htree root or node (indexed directory,
    /// <see cref="DxNode.IsIndexBlock"/>) by its dx_tail, a leaf by its 12-byte dirent tail (docs/disk-formats.md §3.7)
    /// when it has one.
    /// </summary>
    private static void VerifyBlock(Inode dir, uint seed, bool indexed, ReadOnlySpan<byte> block, long logical, long offset)
    {
        if (indexed && DxNode.IsIndexBlock(block, logical))
        {
            var (dxStored, dxComputed, problem) = DxNode.Checksums(seed, block);
            if (problem is not null) throw Mismatch(dir, logical, offset, $"no htree checksum: {problem}");
            if (dxStored != dxComputed)
                throw Mismatch(dir, logical, offset, $"htree checksum mismatch (stored 0x{dxStored:x8}, computed 0x{dxComputed:x8})");
            return;
        }
        if (!DirectoryEntry.HasTail(block)) return;
        int bs = block.Length;
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(block[(bs - DirectoryEntry.Tail.Size + DirectoryEntry.Tail.Checksum)..]);
        uint computed = Crc32C.Compute(seed, block[..(bs - DirectoryEntry.Tail.Size)]);
        if (stored != computed)
            throw Mismatch(dir, logical, offset, $"checksum mismatch (stored 0x{stored:x8}, computed 0x{computed:x8})");
    }

    private static ImageFormatException Mismatch(Inode dir, long logical, long offset, string message) =>
        new(message, $"ext4 inode {dir.Number} directory block {logical}", offset, kind: ImageErrorKind.ChecksumMismatch);
}
