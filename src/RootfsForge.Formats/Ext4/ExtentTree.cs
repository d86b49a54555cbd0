using System.Buffers;
using System.Buffers.Binary;

namespace RootfsForge.Ext4;

/// <summary>Extent tree layout and walk (docs/disk-formats.md §3.5).</summary>
internal static class ExtentTree
{
    internal const ushort Magic = 0xF30A;
    internal const int HeaderSize = 12;
    internal const int EntrySize = 12;
    internal const int MaxDepth = 5;

    /// <summary>A length above this marks an unwritten (preallocated) extent of <c>len − 32768</c> blocks.</summary>
    internal const int MaxInitializedLength = 32768;

    /// <summary>Size of the <c>ext4_extent_tail</c> (a crc32c) after the <c>eh_max</c> entries of a tree block.</summary>
    internal const int TailSize = 4;

    /// <summary>The most tree nodes read for one inode: a cycle of index blocks ends here.</summary>
    internal const int MaxVisits = 1 << 22;

    /// <summary>Extent header offsets.</summary>
    internal static class Header
    {
        internal const int Magic = 0;
        internal const int Entries = 2;
        internal const int Max = 4;
        internal const int Depth = 6;
    }

    /// <summary>Index entry offsets (depth &gt; 0).</summary>
    internal static class Index
    {
        internal const int Block = 0;
        internal const int LeafLo = 4;
        internal const int LeafHi = 8;
    }

    /// <summary>Leaf entry offsets (depth 0).</summary>
    internal static class Leaf
    {
        internal const int Block = 0;
        internal const int Length = 4;
        internal const int StartHi = 6;
        internal const int StartLo = 8;
    }

    /// <summary>Adds the written extents of <paramref name="inode"/> to <paramref name="runs"/>.</summary>
    internal static void Map(Ext4Volume volume, Inode inode, DataMap.Builder runs)
    {
        var walk = new Walker(volume, inode, runs);
        var root = inode.BlockArea;
        long rootOffset = inode.Offset + Inode.Field.Block;
        int depth = CheckHeader(root, -1, inode, rootOffset);
        byte[] buf = ArrayPool<byte>.Shared.Rent(volume.BlockSize * (MaxDepth + 1));
        try
        {
            walk.Node(root, rootOffset, depth, 0, buf);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    private static int CheckHeader(ReadOnlySpan<byte> node, int expectedDepth, Inode inode, long offset)
    {
        string What() => $"ext4 inode {inode.Number} extent tree";
        ushort magic = BinaryPrimitives.ReadUInt16LittleEndian(node[Header.Magic..]);
        if (magic != Magic) throw new ImageFormatException($"bad extent header magic 0x{magic:x4}", What(), offset);
        int entries = BinaryPrimitives.ReadUInt16LittleEndian(node[Header.Entries..]);
        int max = BinaryPrimitives.ReadUInt16LittleEndian(node[Header.Max..]);
        int depth = BinaryPrimitives.ReadUInt16LittleEndian(node[Header.Depth..]);
        int capacity = (node.Length - HeaderSize) / EntrySize;
        if (max > capacity || entries > max)
            throw new ImageFormatException($"extent node has {entries} entries, max {max}, room for {capacity}", What(), offset);
        if (depth > MaxDepth) throw new ImageFormatException($"extent tree depth {depth} exceeds {MaxDepth}", What(), offset);
        if (expectedDepth >= 0 && depth != expectedDepth)
            throw new ImageFormatException($"extent node depth {depth}, expected {expectedDepth}", What(), offset);
        return depth;
    }

    /// <summary>The metadata_csum of a tree block: crc32c(inode seed, the header and eh_max entries), stored after them.</summary>
    private static void VerifyChecksum(Ext4Volume volume, Inode inode, ReadOnlySpan<byte> node, long offset, string what)
    {
        int max = BinaryPrimitives.ReadUInt16LittleEndian(node[Header.Max..]);
        int tail = HeaderSize + max * EntrySize;
        if (tail + TailSize > node.Length) return;
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(node[tail..]);
        uint computed = Crc32C.Compute(volume.InodeSeed(inode), node[..tail]);
        if (stored != computed)
            throw new ImageFormatException($"checksum mismatch (stored 0x{stored:x8}, computed 0x{computed:x8})", what, offset,
                kind: ImageErrorKind.ChecksumMismatch);
    }

    /// <summary>One inode's walk: the nodes visited so far bound the work on a cyclic tree.</summary>
    private sealed class Walker(Ext4Volume volume, Inode inode, DataMap.Builder runs)
    {
        private readonly long _visitCap = Math.Min((long)volume.Superblock.BlocksCount, MaxVisits);
        private int _visits;

        /// <summary>The structure named in messages (made only when needed: this runs for every file of a walk).</summary>
        public string What => $"ext4 inode {inode.Number} extent tree";

        /// <param name="node">The node's bytes.</param>
        /// <param name="offset">Its byte offset on the device (for a root: i_block in the inode record).</param>
        /// <param name="depth">Its depth (0: a leaf).</param>
        /// <param name="lo">The lowest logical block its entries may start at.</param>
        /// <param name="buf">Room for one node per depth below this one.</param>
        public void Node(ReadOnlySpan<byte> node, long offset, int depth, long lo, byte[] buf)
        {
            int entries = BinaryPrimitives.ReadUInt16LittleEndian(node[Header.Entries..]);
            long blocks = (long)volume.Superblock.BlocksCount;
            int bs = volume.BlockSize;
            long nextMin = lo;
            for (int i = 0; i < entries; i++)
            {
                var e = node.Slice(HeaderSize + i * EntrySize, EntrySize);
                long logical = BinaryPrimitives.ReadUInt32LittleEndian(e[Leaf.Block..]);
                if (logical < nextMin)
                    throw new ImageFormatException($"extent entries overlap or are not sorted at logical block {logical}", What, offset);
                nextMin = logical + 1;
                if (logical >= runs.BlockLimit) break;
                if (depth == 0)
                {
                    int len = BinaryPrimitives.ReadUInt16LittleEndian(e[Leaf.Length..]);
                    bool unwritten = len > MaxInitializedLength;
                    if (unwritten) len -= MaxInitializedLength;
                    long start = BinaryPrimitives.ReadUInt32LittleEndian(e[Leaf.StartLo..]) | (long)BinaryPrimitives.ReadUInt16LittleEndian(e[Leaf.StartHi..]) << 32;
                    if (len == 0) continue;
                    if (start == 0 || start + len > blocks)
                        throw new ImageFormatException(
                            $"extent [{logical}, +{len}) points at blocks {start}…{start + len - 1} outside the {blocks}-block filesystem", What, offset);
                    if (!unwritten) runs.Add(logical, start, len);
                    nextMin = logical + len;
                }
                else
                {
                    long child = BinaryPrimitives.ReadUInt32LittleEndian(e[Index.LeafLo..]) | (long)BinaryPrimitives.ReadUInt16LittleEndian(e[Index.LeafHi..]) << 32;
                    if (child == 0 || child >= blocks)
                        throw new ImageFormatException($"extent index points at block {child} outside the filesystem", What, offset);
                    if (++_visits > _visitCap)
                        throw new ImageFormatException($"extent tree visits more than {_visitCap} nodes (a cycle)", What, offset,
                            kind: ImageErrorKind.Loop);
                    var childNode = buf.AsSpan(bs * depth, bs);
                    long childOffset = child * bs;
                    volume.ReadBlocks(child, childNode, What);
                    CheckHeader(childNode, depth - 1, inode, childOffset);
                    if (volume.Verify) VerifyChecksum(volume, inode, childNode, childOffset, What);
                    Node(childNode, childOffset, depth - 1, runs.LastEnd, buf);
                }
            }
        }
    }
}
