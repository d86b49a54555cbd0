using System.Buffers.Binary;

namespace RootfsForge.Ext4;

internal sealed partial class Superblock
{
    /// <summary>
    /// Parses and validates a superblock. Throws <see cref="ImageFormatException"/> naming the field when the values
    /// cannot describe a filesystem (the caller may then try a backup).
    /// </summary>
    internal static Superblock Read(ReadOnlySpan<byte> b, long offset)
    {
        const string what = "ext4 superblock";
        if (b.Length < Size) throw new ImageFormatException("superblock is truncated", what, offset, kind: ImageErrorKind.Truncated);
        ushort magic = U16(b, Field.Magic);
        if (magic != Magic)
            throw new ImageFormatException($"bad magic 0x{magic:x4} (expected 0xef53): not an ext2/3/4 filesystem", what, offset,
                kind: ImageErrorKind.NotAnImage);

        if ((U32(b, Field.FeatureIncompat) & (uint)IncompatFeatures.JournalDev) != 0)
            throw new UnsupportedImageException("this is an external journal device ('journal_dev'), not a filesystem", what, offset);

        uint logBlock = U32(b, Field.LogBlockSize);
        if (logBlock > 6) throw new ImageFormatException($"s_log_block_size {logBlock} is out of range (1 KiB … 64 KiB)", what, offset);
        int blockSize = 1024 << (int)logBlock;

        var incompat = (IncompatFeatures)U32(b, Field.FeatureIncompat);
        var roCompat = (RoCompatFeatures)U32(b, Field.FeatureRoCompat);
        bool bit64 = (incompat & IncompatFeatures.Bit64) != 0;

        uint logCluster = U32(b, Field.LogClusterSize);
        int clusterSize = blockSize;
        if ((roCompat & RoCompatFeatures.Bigalloc) != 0)
        {
            if (logCluster < logBlock || logCluster > 29)
                throw new ImageFormatException($"s_log_cluster_size {logCluster} is out of range", what, offset);
            clusterSize = 1024 << (int)logCluster;
        }

        uint revLevel = U32(b, Field.RevLevel);
        int inodeSize = 128;
        uint firstIno = 11;
        if (revLevel >= 1)
        {
            inodeSize = U16(b, Field.InodeSize);
            firstIno = U32(b, Field.FirstIno);
            if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) != 0)
                throw new ImageFormatException($"s_inode_size {inodeSize} is not a power of two between 128 and the block size", what, offset);
        }

        ulong blocksCount = U32(b, Field.BlocksCountLo) | (bit64 ? (ulong)U32(b, Field.BlocksCountHi) << 32 : 0);
        ulong freeBlocks = U32(b, Field.FreeBlocksCountLo) | (bit64 ? (ulong)U32(b, Field.FreeBlocksCountHi) << 32 : 0);
        uint firstDataBlock = U32(b, Field.FirstDataBlock);
        uint blocksPerGroup = U32(b, Field.BlocksPerGroup);
        uint inodesPerGroup = U32(b, Field.InodesPerGroup);
        uint inodesCount = U32(b, Field.InodesCount);

        if (blocksPerGroup == 0 || blocksPerGroup > 8u * (uint)clusterSize * 8u)
            throw new ImageFormatException($"s_blocks_per_group {blocksPerGroup} is out of range", what, offset);
        if (inodesPerGroup == 0 || inodesPerGroup > 8u * (uint)blockSize)
            throw new ImageFormatException($"s_inodes_per_group {inodesPerGroup} is out of range", what, offset);
        if (blocksCount == 0 || firstDataBlock >= blocksCount || blocksCount >= 1UL << 48)
            throw new ImageFormatException($"s_blocks_count {blocksCount} / s_first_data_block {firstDataBlock} are inconsistent", what, offset);
        if (firstDataBlock > 1)
            throw new ImageFormatException($"s_first_data_block {firstDataBlock} is out of range", what, offset);
        if (revLevel >= 1 && (firstIno < 11 || firstIno > inodesCount))
            throw new ImageFormatException($"s_first_ino {firstIno} is out of range", what, offset);

        ulong groups = (blocksCount - firstDataBlock + blocksPerGroup - 1) / blocksPerGroup;
        if (inodesCount == 0 || (ulong)inodesPerGroup * groups < inodesCount)
            throw new ImageFormatException(
                $"s_inodes_count {inodesCount} does not fit {groups} groups of {inodesPerGroup} inodes", what, offset);

        int descSize = 32;
        if (bit64)
        {
            descSize = U16(b, Field.DescSize);
            if (descSize < 64 || descSize > 1024 || (descSize & (descSize - 1)) != 0)
                throw new ImageFormatException($"s_desc_size {descSize} is invalid for a 64bit filesystem", what, offset);
        }

        return new Superblock
        {
            InodesCount = inodesCount,
            BlocksCount = blocksCount,
            FreeBlocksCount = freeBlocks,
            FreeInodesCount = U32(b, Field.FreeInodesCount),
            FirstDataBlock = firstDataBlock,
            BlockSize = blockSize,
            ClusterSize = clusterSize,
            BlocksPerGroup = blocksPerGroup,
            InodesPerGroup = inodesPerGroup,
            State = U16(b, Field.State),
            RevLevel = revLevel,
            FirstIno = firstIno,
            InodeSize = inodeSize,
            BlockGroupNr = U16(b, Field.BlockGroupNr),
            Compat = (CompatFeatures)U32(b, Field.FeatureCompat),
            Incompat = incompat,
            RoCompat = roCompat,
            Uuid = b.Slice(Field.Uuid, Length.Uuid).ToArray(),
            VolumeName = b.Slice(Field.VolumeName, Length.VolumeName).ToArray(),
            LastMounted = b.Slice(Field.LastMounted, Length.LastMounted).ToArray(),
            JournalInum = U32(b, Field.JournalInum),
            JournalDev = U32(b, Field.JournalDev),
            DescSize = descSize,
            FirstMetaBg = U32(b, Field.FirstMetaBg),
            BackupBg0 = U32(b, Field.BackupBgs),
            BackupBg1 = U32(b, Field.BackupBgs + 4),
            ChecksumSeed = U32(b, Field.ChecksumSeed),
            StoredChecksum = U32(b, Field.Checksum),
            ComputedChecksum = Crc32C.Compute(~0u, b[..Field.Checksum]),
        };
    }

    private static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b[o..]);
    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
}
