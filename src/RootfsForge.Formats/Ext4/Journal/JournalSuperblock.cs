using System.Buffers.Binary;

namespace RootfsForge.Ext4.Journal;

/// <summary>The fields of a JBD2 journal superblock (journal block 0) that recovery needs.</summary>
internal sealed class JournalSuperblock
{
    private const string Structure = "jbd2 journal superblock";

    public required uint BlockType { get; init; }
    public required uint BlockSize { get; init; }
    public required uint MaxLen { get; init; }
    public required uint First { get; init; }
    public required uint Sequence { get; init; }
    public required uint Start { get; init; }
    public required uint Errno { get; init; }
    public required uint FeatureCompat { get; init; }
    public required uint FeatureIncompat { get; init; }
    public required uint NumFcBlocks { get; init; }

    /// <summary>crc32c(~0, s_uuid): the seed of every CSUM_V2/V3 checksum.</summary>
    public required uint ChecksumSeed { get; init; }

    public bool Has64Bit => (FeatureIncompat & JournalLayout.Incompat.Bit64) != 0;
    public bool HasCsumV2OrV3 => (FeatureIncompat & (JournalLayout.Incompat.CsumV2 | JournalLayout.Incompat.CsumV3)) != 0;
    public bool HasCsumV3 => (FeatureIncompat & JournalLayout.Incompat.CsumV3) != 0;
    public bool HasAsyncCommit => (FeatureIncompat & JournalLayout.Incompat.AsyncCommit) != 0;
    public bool HasFastCommit => (FeatureIncompat & JournalLayout.Incompat.FastCommit) != 0;

    /// <summary>One past the last block of the circular log; the fast-commit area (if any) follows it.</summary>
    public uint LogEnd => HasFastCommit ? MaxLen - NumFcBlocks : MaxLen;

    /// <summary>Bytes per descriptor tag (journal_tag_bytes() in the kernel).</summary>
    public int TagBytes
    {
        get
        {
            if (HasCsumV3) return JournalLayout.Tag.SizeV3;
            int size = 12;
            if ((FeatureIncompat & JournalLayout.Incompat.CsumV2) != 0) size += 2;
            return Has64Bit ? size : size - 4;
        }
    }

    /// <summary>Bytes at the end of descriptor and revoke blocks taken by the checksum tail.</summary>
    public int TailBytes => HasCsumV2OrV3 ? JournalLayout.BlockTailSize : 0;

    /// <summary>
    /// Parses and validates the superblock in <paramref name="block"/> (one journal block).
    /// <paramref name="offset"/> is its byte offset on the device, for error messages.
    /// </summary>
    public static JournalSuperblock Read(ReadOnlySpan<byte> block, int fsBlockSize, long journalBlockCount, long offset)
    {
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(block[JournalLayout.Header.Magic..]);
        if (magic != JournalLayout.Magic)
            throw new ImageFormatException($"bad magic 0x{magic:x8} (expected 0x{JournalLayout.Magic:x8})", Structure, offset);
        uint blockType = BinaryPrimitives.ReadUInt32BigEndian(block[JournalLayout.Header.BlockType..]);
        if (blockType is not (JournalLayout.BlockType.SuperblockV1 or JournalLayout.BlockType.SuperblockV2))
            throw new ImageFormatException($"block type {blockType} is not a journal superblock (3 or 4)", Structure, offset);

        var sb = block[..JournalLayout.Superblock.Size];
        uint blockSize = Be32(sb, JournalLayout.Superblock.BlockSize);
        uint maxLen = Be32(sb, JournalLayout.Superblock.MaxLen);
        uint first = Be32(sb, JournalLayout.Superblock.First);
        uint start = Be32(sb, JournalLayout.Superblock.Start);
        bool v2 = blockType == JournalLayout.BlockType.SuperblockV2;
        // A v1 superblock has no feature fields (journal.rst: "only valid if s_header.h_blocktype is 4").
        uint compat = v2 ? Be32(sb, JournalLayout.Superblock.FeatureCompat) : 0;
        uint incompat = v2 ? Be32(sb, JournalLayout.Superblock.FeatureIncompat) : 0;

        if (blockSize != fsBlockSize)
            throw new ImageFormatException($"journal block size {blockSize} differs from the filesystem block size {fsBlockSize}",
                Structure, offset);
        if ((incompat & ~JournalLayout.Incompat.Known) is uint unknown and not 0)
            throw new UnsupportedImageException(
                $"unknown journal incompat feature bits 0x{unknown:x} ({DescribeBits(unknown)}); cannot replay the journal",
                Structure, offset);
        if ((incompat & JournalLayout.Incompat.CsumV2) != 0 && (incompat & JournalLayout.Incompat.CsumV3) != 0)
            throw new ImageFormatException("both CSUM_V2 and CSUM_V3 are set", Structure, offset);
        if (maxLen > journalBlockCount)
            throw new ImageFormatException($"s_maxlen {maxLen} exceeds the journal inode's {journalBlockCount} blocks",
                Structure, offset);
        if (first == 0 || first >= maxLen)
            throw new ImageFormatException($"s_first {first} is outside the journal (s_maxlen {maxLen})", Structure, offset);

        uint numFc = 0;
        if ((incompat & JournalLayout.Incompat.FastCommit) != 0)
        {
            numFc = Be32(sb, JournalLayout.Superblock.NumFcBlocks);
            if (numFc == 0) numFc = JournalLayout.Superblock.DefaultFastCommitBlocks;
            if (numFc >= maxLen || maxLen - numFc <= first)
                throw new ImageFormatException(
                    $"{numFc} fast-commit blocks leave no log in a {maxLen}-block journal starting at {first}", Structure, offset);
        }
        uint logEnd = maxLen - numFc;
        if (start != 0 && (start < first || start >= logEnd))
            throw new ImageFormatException($"s_start {start} is outside the log [{first}, {logEnd})", Structure, offset);

        if ((incompat & (JournalLayout.Incompat.CsumV2 | JournalLayout.Incompat.CsumV3)) != 0 &&
            sb[JournalLayout.Superblock.ChecksumType] is byte type and not JournalLayout.Superblock.ChecksumTypeCrc32C)
            throw new UnsupportedImageException($"journal checksum type {type} is not crc32c (4)", Structure, offset);

        uint seed = Crc32C.Compute(~0u, sb.Slice(JournalLayout.Superblock.Uuid, JournalLayout.Superblock.UuidLength));
        if ((incompat & (JournalLayout.Incompat.CsumV2 | JournalLayout.Incompat.CsumV3)) != 0)
        {
            // jbd2_superblock_csum(): crc32c(~0) over the 1024-byte superblock with s_checksum zeroed.
            uint stored = Be32(sb, JournalLayout.Superblock.Checksum);
            uint crc = Crc32C.Compute(~0u, sb[..JournalLayout.Superblock.Checksum]);
            crc = Crc32C.ComputeZeros(crc, 4);
            crc = Crc32C.Compute(crc, sb[(JournalLayout.Superblock.Checksum + 4)..]);
            if (crc != stored)
                throw new ImageFormatException(
                    $"checksum mismatch (stored 0x{stored:x8}, computed 0x{crc:x8})", Structure, offset,
                    kind: ImageErrorKind.ChecksumMismatch);
        }

        return new JournalSuperblock
        {
            BlockType = blockType,
            BlockSize = blockSize,
            MaxLen = maxLen,
            First = first,
            Sequence = Be32(sb, JournalLayout.Superblock.Sequence),
            Start = start,
            Errno = Be32(sb, JournalLayout.Superblock.Errno),
            FeatureCompat = compat,
            FeatureIncompat = incompat,
            NumFcBlocks = numFc,
            ChecksumSeed = seed,
        };
    }

    private static uint Be32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32BigEndian(b[at..]);

    private static string DescribeBits(uint bits)
    {
        var names = new List<string>();
        for (int i = 0; i < 32; i++)
            if ((bits & (1u << i)) != 0) names.Add($"bit {i} (0x{1u << i:x})");
        return string.Join(", ", names);
    }
}
