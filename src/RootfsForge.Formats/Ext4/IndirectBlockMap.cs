using System.Buffers;
using System.Buffers.Binary;

namespace RootfsForge.Ext4;

/// <summary>The ext2/3 block map: 12 direct, single, double and triple indirect pointers (docs/disk-formats.md §3.5).</summary>
internal static class IndirectBlockMap
{
    internal const int DirectBlocks = 12;
    internal const int SingleIndirect = 12;
    internal const int DoubleIndirect = 13;
    internal const int TripleIndirect = 14;

    /// <summary>The most indirect blocks read for one inode: a block map that refers back to itself ends here.</summary>
    internal const int MaxVisits = 1 << 22;

    /// <summary>Adds the mapped blocks of <paramref name="inode"/> to <paramref name="runs"/>.</summary>
    internal static void Map(Ext4Volume volume, Inode inode, DataMap.Builder runs)
    {
        var walk = new Walker(volume, inode);
        var area = inode.BlockArea;
        long blocks = (long)volume.Superblock.BlocksCount;
        long perBlock = volume.BlockSize / 4;
        for (int i = 0; i < DirectBlocks; i++)
        {
            uint p = BinaryPrimitives.ReadUInt32LittleEndian(area[(i * 4)..]);
            if (p == 0) continue;
            if (p >= blocks)
                throw new ImageFormatException($"direct block {i} points at block {p} outside the filesystem", walk.What,
                    inode.Offset + Inode.Field.Block + i * 4);
            runs.Add(i, p, 1);
        }
        byte[] buf = ArrayPool<byte>.Shared.Rent(volume.BlockSize * 3);
        try
        {
            long start = DirectBlocks;
            long span = perBlock;
            for (int level = 1; level <= 3; level++)
            {
                int slot = DirectBlocks - 1 + level;
                uint p = BinaryPrimitives.ReadUInt32LittleEndian(area[(slot * 4)..]);
                if (start >= runs.BlockLimit) break;
                if (p != 0) walk.Block(p, inode.Offset + Inode.Field.Block + slot * 4, level, start, runs, buf);
                start += span;
                span *= perBlock;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    /// <summary>One inode's walk: the indirect blocks visited so far bound the work on a cyclic map.</summary>
    private sealed class Walker(Ext4Volume volume, Inode inode)
    {
        private readonly long _visitCap = Math.Min((long)volume.Superblock.BlocksCount, MaxVisits);
        private int _visits;

        /// <summary>The structure named in messages (made only when needed).</summary>
        public string What => $"ext4 inode {inode.Number} block map";

        /// <param name="block">The indirect block.</param>
        /// <param name="pointerOffset">The byte offset of the pointer to it (in the inode or a parent block).</param>
        /// <param name="level">1 for a single indirect block, 2 double, 3 triple.</param>
        /// <param name="start">The first logical block it maps.</param>
        /// <param name="runs">Receives the mapped blocks.</param>
        /// <param name="buf">Room for one block per level.</param>
        public void Block(uint block, long pointerOffset, int level, long start, DataMap.Builder runs, byte[] buf)
        {
            long blocks = (long)volume.Superblock.BlocksCount;
            int bs = volume.BlockSize;
            if (block >= blocks)
                throw new ImageFormatException($"indirect block pointer {block} is outside the filesystem", What, pointerOffset);
            if (++_visits > _visitCap)
                throw new ImageFormatException($"block map visits more than {_visitCap} indirect blocks (a cycle)", What, pointerOffset,
                    kind: ImageErrorKind.Loop);
            int perBlock = bs / 4;
            var node = buf.AsSpan((level - 1) * bs, bs);
            volume.ReadBlocks(block, node, What);
            long childSpan = 1;
            for (int l = 1; l < level; l++) childSpan *= perBlock;
            for (int i = 0; i < perBlock; i++)
            {
                long logical = start + i * childSpan;
                if (logical >= runs.BlockLimit) break;
                uint p = BinaryPrimitives.ReadUInt32LittleEndian(node[(i * 4)..]);
                if (p == 0) continue;
                long at = (long)block * bs + i * 4;
                if (level == 1)
                {
                    if (p >= blocks)
                        throw new ImageFormatException($"block pointer {p} for logical block {logical} is outside the filesystem", What, at);
                    runs.Add(logical, p, 1);
                }
                else
                {
                    Block(p, at, level - 1, logical, runs, buf);
                }
            }
        }
    }
}
