using System.Buffers;
using RootfsForge.Disks;

namespace RootfsForge.Ext4;

/// <summary>Reads the group descriptor table, classic or meta_bg (docs/disk-formats.md §3.3).</summary>
internal static class GroupDescriptorTable
{
    /// <summary>The most block groups accepted (bounds memory: 2^22 groups is a 512 TiB filesystem of 4 KiB blocks).</summary>
    internal const ulong MaxGroups = 1 << 22;

    public static GroupDescriptor[] Read(BlockSource device, Superblock sb, bool verifyChecksums, Action<string> warn)
    {
        ulong groupCount = sb.GroupCount;
        if (groupCount > MaxGroups)
            throw new ImageFormatException($"{groupCount} block groups is beyond the supported {MaxGroups}", "ext4 superblock",
                Superblock.PrimaryOffset, kind: ImageErrorKind.LimitExceeded);
        int bs = sb.BlockSize;
        int descSize = sb.DescSize;
        int perBlock = bs / descSize;
        long descBlocks = (long)((groupCount + (ulong)perBlock - 1) / (ulong)perBlock);
        bool metaBg = (sb.Incompat & IncompatFeatures.MetaBg) != 0;
        long firstMetaBg = metaBg ? sb.FirstMetaBg : long.MaxValue;
        if (metaBg && firstMetaBg > descBlocks)
        {
            warn($"s_first_meta_bg {sb.FirstMetaBg} exceeds the {descBlocks} descriptor blocks; using the classic layout");
            firstMetaBg = descBlocks;
        }
        long classicBase = (bs == 1024 && sb.FirstDataBlock == 0) ? 1 : sb.FirstDataBlock;
        long tableBlocks = ((long)sb.InodesPerGroup * sb.InodeSize + bs - 1) / bs;
        bool verify = verifyChecksums && sb.HasMetadataCsum;
        uint seed = sb.HasMetadataCsum ? sb.CsumSeed : 0;

        var groups = new GroupDescriptor[groupCount];
        byte[] block = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            for (long db = 0; db < descBlocks; db++)
            {
                long location;
                if (db < firstMetaBg)
                {
                    location = classicBase + 1 + db;
                }
                else
                {
                    ulong g = (ulong)db * (ulong)perBlock;
                    location = (long)(sb.FirstDataBlock + g * sb.BlocksPerGroup + (sb.GroupHasSuper(g) ? 1UL : 0UL));
                }
                long offset = location * bs;
                if ((ulong)location >= sb.BlocksCount)
                    throw new ImageFormatException($"group descriptor block {db} would be at block {location}, outside the filesystem",
                        "ext4 group descriptor table", offset);
                Ext4Volume.ReadZeroPadded(device, offset, block.AsSpan(0, bs));
                for (int i = 0; i < perBlock; i++)
                {
                    ulong group = (ulong)db * (ulong)perBlock + (ulong)i;
                    if (group >= groupCount) break;
                    var d = block.AsSpan(i * descSize, descSize);
                    long dOffset = offset + i * descSize;
                    if (verify)
                    {
                        ushort stored = GroupDescriptor.StoredChecksum(d), computed = GroupDescriptor.ComputeChecksum(seed, (uint)group, d);
                        if (stored != computed)
                            throw new ImageFormatException($"checksum mismatch (stored 0x{stored:x4}, computed 0x{computed:x4})",
                                $"ext4 group descriptor {group}", dOffset, kind: ImageErrorKind.ChecksumMismatch);
                    }
                    var gd = GroupDescriptor.Read(d, sb.Is64Bit);
                    if (gd.InodeTable == 0 || gd.InodeTable >= sb.BlocksCount || gd.InodeTable + (ulong)tableBlocks > sb.BlocksCount)
                        throw new ImageFormatException($"inode table at block {gd.InodeTable} (+{tableBlocks}) is outside the {sb.BlocksCount}-block filesystem",
                            $"ext4 group descriptor {group}", dOffset);
                    groups[group] = gd;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
        return groups;
    }
}
