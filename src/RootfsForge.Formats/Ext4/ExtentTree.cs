using System.Buffers;
using System.Buffers.Binary;

namespace RootfsForge.Ext4;

/// <summary>Extent tree layout and walk (§3.5).</summary>
internal static class ExtentTree
{
    internal const ushort Magic = 0xF30A;
    internal const int HeaderSize = 12;
    internal const int EntrySize = 12;
    internal const int MaxDepth = 5;

    /// <summary>A length above this marks an unwritten (preallocated) extent of <c>len − 32768</c> blocks.</summary>
    internal const int MaxInitializedLength = 32768;

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

    internal static void Map(Ext4FileSystem fs, Inode inode, DataMap.Builder runs)
    {
        string what = $"ext4 inode {inode.Number} extent tree";
        var root = inode.BlockArea;
        int depth = CheckHeader(root, -1, what, null);
        int visits = 0;
        long visitCap = Math.Min((long)fs.Superblock.BlocksCount, 1 << 22);
        byte[] buf = ArrayPool<byte>.Shared.Rent(fs.BlockSize * (MaxDepth + 1));
        try
        {
            Walk(fs, inode, root, depth, 0, runs, buf, ref visits, visitCap, what);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    /// <summary>The first leaf extent of a depth-0 root (for prefetching), or null.</summary>
    internal static (long Physical, long Count)? FirstRootExtent(ReadOnlySpan<byte> root)
    {
        if (BinaryPrimitives.ReadUInt16LittleEndian(root) != Magic) return null;
        if (BinaryPrimitives.ReadUInt16LittleEndian(root[Header.Depth..]) != 0) return null;
        if (BinaryPrimitives.ReadUInt16LittleEndian(root[Header.Entries..]) == 0) return null;
        var e = root[HeaderSize..];
        int len = BinaryPrimitives.ReadUInt16LittleEndian(e[Leaf.Length..]);
        if (len > MaxInitializedLength) return null;
        long start = BinaryPrimitives.ReadUInt32LittleEndian(e[Leaf.StartLo..]) | (long)BinaryPrimitives.ReadUInt16LittleEndian(e[Leaf.StartHi..]) << 32;
        return (start, len);
    }

    private static int CheckHeader(ReadOnlySpan<byte> node, int expectedDepth, string what, long? offset)
    {
        ushort magic = BinaryPrimitives.ReadUInt16LittleEndian(node[Header.Magic..]);
        if (magic != Magic) throw new ImageFormatException($"bad extent header magic 0x{magic:x4}", what, offset);
        int entries = BinaryPrimitives.ReadUInt16LittleEndian(node[Header.Entries..]);
        int max = BinaryPrimitives.ReadUInt16LittleEndian(node[Header.Max..]);
        int depth = BinaryPrimitives.ReadUInt16LittleEndian(node[Header.Depth..]);
        int capacity = (node.Length - HeaderSize) / EntrySize;
        if (max > capacity || entries > max)
            throw new ImageFormatException($"extent node has {entries} entries, max {max}, room for {capacity}", what, offset);
        if (depth > MaxDepth) throw new ImageFormatException($"extent tree depth {depth} exceeds {MaxDepth}", what, offset);
        if (expectedDepth >= 0 && depth != expectedDepth)
            throw new ImageFormatException($"extent node depth {depth}, expected {expectedDepth}", what, offset);
        return depth;
    }

    private static void Walk(Ext4FileSystem fs, Inode inode, ReadOnlySpan<byte> node, int depth, long lo,
        DataMap.Builder runs, byte[] buf, ref int visits, long visitCap, string what)
    {
        int entries = BinaryPrimitives.ReadUInt16LittleEndian(node[Header.Entries..]);
        long blocks = (long)fs.Superblock.BlocksCount;
        long nextMin = lo;
        for (int i = 0; i < entries; i++)
        {
            var e = node.Slice(HeaderSize + i * EntrySize, EntrySize);
            long logical = BinaryPrimitives.ReadUInt32LittleEndian(e[Leaf.Block..]);
            if (logical < nextMin)
                throw new ImageFormatException($"extent entries overlap or are not sorted at logical block {logical}", what);
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
                    throw new ImageFormatException($"extent [{logical}, +{len}) points at blocks {start}…{start + len - 1} outside the {blocks}-block filesystem", what);
                if (!unwritten) runs.Add(logical, start, len);
                nextMin = logical + len;
            }
            else
            {
                long child = BinaryPrimitives.ReadUInt32LittleEndian(e[Index.LeafLo..]) | (long)BinaryPrimitives.ReadUInt16LittleEndian(e[Index.LeafHi..]) << 32;
                if (child == 0 || child >= blocks)
                    throw new ImageFormatException($"extent index points at block {child} outside the filesystem", what);
                if (++visits > visitCap)
                    throw new ImageFormatException($"extent tree visits more than {visitCap} nodes (a cycle?)", what);
                var childNode = buf.AsSpan(fs.BlockSize * depth, fs.BlockSize);
                long offset = child * fs.BlockSize;
                fs.ReadBlocks(child, childNode, what);
                CheckHeader(childNode, depth - 1, what, offset);
                fs.VerifyExtentBlock(inode, childNode, offset);
                Walk(fs, inode, childNode, depth - 1, runs.LastEnd, runs, buf, ref visits, visitCap, what);
            }
        }
    }
}

/// <summary>The ext2/3 block map: 12 direct, single, double and triple indirect pointers (§3.5).</summary>
internal static class IndirectBlockMap
{
    internal const int DirectBlocks = 12;
    internal const int SingleIndirect = 12;
    internal const int DoubleIndirect = 13;
    internal const int TripleIndirect = 14;

    internal static void Map(Ext4FileSystem fs, Inode inode, DataMap.Builder runs)
    {
        string what = $"ext4 inode {inode.Number} block map";
        var area = inode.BlockArea;
        long perBlock = fs.BlockSize / 4;
        long blocks = (long)fs.Superblock.BlocksCount;
        for (int i = 0; i < DirectBlocks; i++)
        {
            uint p = BinaryPrimitives.ReadUInt32LittleEndian(area[(i * 4)..]);
            if (p == 0) continue;
            if (p >= blocks) throw new ImageFormatException($"direct block {i} points at block {p} outside the filesystem", what);
            runs.Add(i, p, 1);
        }
        int visits = 0;
        long visitCap = Math.Min(blocks, 1 << 22);
        byte[] buf = ArrayPool<byte>.Shared.Rent(fs.BlockSize * 3);
        try
        {
            long start = DirectBlocks;
            long span = perBlock;
            for (int level = 1; level <= 3; level++)
            {
                uint p = BinaryPrimitives.ReadUInt32LittleEndian(area[((DirectBlocks - 1 + level) * 4)..]);
                if (start >= runs.BlockLimit) break;
                if (p != 0) Walk(fs, p, level, start, runs, buf, ref visits, visitCap, what);
                start += span;
                span *= perBlock;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    private static void Walk(Ext4FileSystem fs, uint block, int level, long start, DataMap.Builder runs, byte[] buf,
        ref int visits, long visitCap, string what)
    {
        long blocks = (long)fs.Superblock.BlocksCount;
        if (block >= blocks) throw new ImageFormatException($"indirect block pointer {block} is outside the filesystem", what);
        if (++visits > visitCap) throw new ImageFormatException($"block map visits more than {visitCap} indirect blocks", what);
        int perBlock = fs.BlockSize / 4;
        var node = buf.AsSpan((level - 1) * fs.BlockSize, fs.BlockSize);
        fs.ReadBlocks(block, node, what);
        long childSpan = 1;
        for (int l = 1; l < level; l++) childSpan *= perBlock;
        for (int i = 0; i < perBlock; i++)
        {
            long logical = start + i * childSpan;
            if (logical >= runs.BlockLimit) break;
            uint p = BinaryPrimitives.ReadUInt32LittleEndian(node[(i * 4)..]);
            if (p == 0) continue;
            if (level == 1)
            {
                if (p >= blocks) throw new ImageFormatException($"block pointer {p} for logical block {logical} is outside the filesystem", what);
                runs.Add(logical, p, 1);
            }
            else
            {
                Walk(fs, p, level - 1, logical, runs, buf, ref visits, visitCap, what);
            }
        }
    }
}
