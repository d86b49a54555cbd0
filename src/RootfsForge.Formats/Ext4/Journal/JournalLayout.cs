namespace RootfsForge.Ext4.Journal;

/// <summary>
/// Offsets, sizes and constants of the JBD2 on-disk format (kernel Documentation/filesystems/ext4/journal.rst,
/// include/linux/jbd2.h). Every journal structure is big-endian.
/// </summary>
internal static class JournalLayout
{
    /// <summary>h_magic of every journal metadata block.</summary>
    public const uint Magic = 0xC03B3998;

    /// <summary>journal_header_t: h_magic, h_blocktype, h_sequence.</summary>
    public static class Header
    {
        public const int Magic = 0x0;
        public const int BlockType = 0x4;
        public const int Sequence = 0x8;
        public const int Size = 12;
    }

    /// <summary>h_blocktype values.</summary>
    public static class BlockType
    {
        public const uint Descriptor = 1;
        public const uint Commit = 2;
        public const uint SuperblockV1 = 3;
        public const uint SuperblockV2 = 4;
        public const uint Revoke = 5;
    }

    /// <summary>journal_superblock_t (journal block 0, 1024 bytes).</summary>
    public static class Superblock
    {
        public const int BlockSize = 0xC;
        public const int MaxLen = 0x10;
        public const int First = 0x14;
        public const int Sequence = 0x18;
        public const int Start = 0x1C;
        public const int Errno = 0x20;
        public const int FeatureCompat = 0x24;
        public const int FeatureIncompat = 0x28;
        public const int FeatureRoCompat = 0x2C;
        public const int Uuid = 0x30;
        public const int UuidLength = 16;
        public const int NrUsers = 0x40;
        public const int ChecksumType = 0x50;

        /// <summary>s_checksum_type value JBD2_CRC32C_CHKSUM, the only one CSUM_V2/V3 allow.</summary>
        public const byte ChecksumTypeCrc32C = 4;
        public const int NumFcBlocks = 0x54;
        public const int Checksum = 0xFC;
        public const int Size = 1024;

        /// <summary>s_num_fc_blks of 0 means this many fast-commit blocks (JBD2_DEFAULT_FAST_COMMIT_BLOCKS).</summary>
        public const uint DefaultFastCommitBlocks = 256;
    }

    /// <summary>s_feature_compat bits.</summary>
    public static class Compat
    {
        /// <summary>JBD2_FEATURE_COMPAT_CHECKSUM: v1 crc32 commit checksums (not verified here).</summary>
        public const uint Checksum = 0x1;
    }

    /// <summary>s_feature_incompat bits.</summary>
    public static class Incompat
    {
        public const uint Revoke = 0x1;
        public const uint Bit64 = 0x2;
        public const uint AsyncCommit = 0x4;
        public const uint CsumV2 = 0x8;
        public const uint CsumV3 = 0x10;
        public const uint FastCommit = 0x20;
        public const uint Known = Revoke | Bit64 | AsyncCommit | CsumV2 | CsumV3 | FastCommit;
    }

    /// <summary>
    /// Descriptor block tags. Without CSUM_V3, journal_block_tag_t: t_blocknr (be32), t_checksum (be16, CSUM_V2 only),
    /// t_flags (be16), t_blocknr_high (be32, 64BIT only); the tag is 8 bytes, +4 with 64BIT, +2 with CSUM_V2.
    /// With CSUM_V3, journal_block_tag3_t is always 16 bytes: t_blocknr, t_flags, t_blocknr_high, t_checksum (all be32).
    /// </summary>
    public static class Tag
    {
        public const int BlockNr = 0x0;
        public const int ChecksumV2 = 0x4;
        public const int FlagsV2 = 0x6;
        public const int BlockNrHigh = 0x8;
        public const int FlagsV3 = 0x4;
        public const int ChecksumV3 = 0xC;
        public const int SizeV3 = 16;
        public const int UuidLength = 16;

        public const uint FlagEscape = 0x1;
        public const uint FlagSameUuid = 0x2;
        public const uint FlagDeleted = 0x4;
        public const uint FlagLastTag = 0x8;
    }

    /// <summary>jbd2_journal_block_tail: a be32 crc32c in the last 4 bytes of descriptor and revoke blocks (CSUM_V2/V3).</summary>
    public const int BlockTailSize = 4;

    /// <summary>commit_header: after the journal header, h_chksum_type, h_chksum_size, padding, h_chksum[8], h_commit_sec.</summary>
    public static class Commit
    {
        public const int ChecksumType = 0xC;
        public const int ChecksumSize = 0xD;
        public const int Checksum = 0x10;
        public const int CommitSec = 0x30;
        public const int CommitNsec = 0x38;
    }

    /// <summary>jbd2_journal_revoke_header_t: after the journal header, r_count (bytes used, header included).</summary>
    public static class Revoke
    {
        public const int Count = 0xC;
        public const int Records = 0x10;
    }

    /// <summary>ext4 fast-commit area tags (little-endian tag/len pairs; fs/ext4/fast_commit.h).</summary>
    public static class FastCommit
    {
        public const ushort TagHead = 9;
    }
}
