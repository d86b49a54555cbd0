namespace RootfsForge.Ext4;

/// <summary>The ext2/3/4 superblock (docs/disk-formats.md §3.1): the fields the reader uses.</summary>
internal sealed partial class Superblock
{
    /// <summary>Byte offset of the primary superblock in the device.</summary>
    internal const int PrimaryOffset = 1024;

    /// <summary>Size of the superblock record.</summary>
    internal const int Size = 1024;

    internal const ushort Magic = 0xEF53;

    /// <summary>Field offsets (kernel <c>struct ext4_super_block</c>).</summary>
    internal static class Field
    {
        internal const int InodesCount = 0x00;
        internal const int BlocksCountLo = 0x04;
        internal const int FreeBlocksCountLo = 0x0C;
        internal const int FreeInodesCount = 0x10;
        internal const int FirstDataBlock = 0x14;
        internal const int LogBlockSize = 0x18;
        internal const int LogClusterSize = 0x1C;
        internal const int BlocksPerGroup = 0x20;
        internal const int ClustersPerGroup = 0x24;
        internal const int InodesPerGroup = 0x28;
        internal const int Magic = 0x38;
        internal const int State = 0x3A;
        internal const int RevLevel = 0x4C;
        internal const int FirstIno = 0x54;
        internal const int InodeSize = 0x58;
        internal const int BlockGroupNr = 0x5A;
        internal const int FeatureCompat = 0x5C;
        internal const int FeatureIncompat = 0x60;
        internal const int FeatureRoCompat = 0x64;
        internal const int Uuid = 0x68;
        internal const int VolumeName = 0x78;
        internal const int LastMounted = 0x88;
        internal const int JournalInum = 0xE0;
        internal const int JournalDev = 0xE4;
        internal const int DescSize = 0xFE;
        internal const int FirstMetaBg = 0x104;
        internal const int BlocksCountHi = 0x150;
        internal const int FreeBlocksCountHi = 0x158;
        internal const int MinExtraIsize = 0x15C;
        internal const int ChecksumType = 0x175;
        internal const int BackupBgs = 0x24C;
        internal const int ChecksumSeed = 0x270;
        internal const int Checksum = 0x3FC;
    }

    internal static class Length
    {
        internal const int Uuid = 16;
        internal const int VolumeName = 16;
        internal const int LastMounted = 64;
    }

    public uint InodesCount { get; init; }
    public ulong BlocksCount { get; init; }
    public ulong FreeBlocksCount { get; init; }
    public uint FreeInodesCount { get; init; }
    public uint FirstDataBlock { get; init; }
    public int BlockSize { get; init; }
    public int ClusterSize { get; init; }
    public uint BlocksPerGroup { get; init; }
    public uint InodesPerGroup { get; init; }
    public ushort State { get; init; }
    public uint RevLevel { get; init; }
    public uint FirstIno { get; init; }
    public int InodeSize { get; init; }
    public ushort BlockGroupNr { get; init; }
    public CompatFeatures Compat { get; init; }
    public IncompatFeatures Incompat { get; init; }
    public RoCompatFeatures RoCompat { get; init; }
    public byte[] Uuid { get; init; } = [];
    public byte[] VolumeName { get; init; } = [];
    public byte[] LastMounted { get; init; } = [];
    public uint JournalInum { get; init; }
    public uint JournalDev { get; init; }
    public int DescSize { get; init; }
    public uint FirstMetaBg { get; init; }
    public uint BackupBg0 { get; init; }
    public uint BackupBg1 { get; init; }
    public uint ChecksumSeed { get; init; }
    public uint StoredChecksum { get; init; }
    public uint ComputedChecksum { get; init; }

    /// <summary>The number of block groups: <c>ceil((blocks_count − first_data_block) / blocks_per_group)</c>.</summary>
    public ulong GroupCount => (BlocksCount - FirstDataBlock + BlocksPerGroup - 1) / BlocksPerGroup;

    public bool Is64Bit => (Incompat & IncompatFeatures.Bit64) != 0;
    public bool HasMetadataCsum => (RoCompat & RoCompatFeatures.MetadataCsum) != 0;

    /// <summary>
    /// The metadata_csum seed: <c>s_checksum_seed</c> with CSUM_SEED, else crc32c(~0, uuid)
    /// (docs/disk-formats.md §3.13).
    /// </summary>
    public uint CsumSeed => (Incompat & IncompatFeatures.CsumSeed) != 0 ? ChecksumSeed : Crc32C.Compute(~0u, Uuid);

    /// <summary>
    /// True when group <paramref name="group"/> holds a superblock (and GDT) backup (docs/disk-formats.md §3.3
    /// has_super).
    /// </summary>
    public bool GroupHasSuper(ulong group)
    {
        if (group == 0) return true;
        if ((Compat & CompatFeatures.SparseSuper2) != 0) return group == BackupBg0 || group == BackupBg1;
        if (group <= 1 || (RoCompat & RoCompatFeatures.SparseSuper) == 0) return true;
        if ((group & 1) == 0) return false;
        return IsPowerOf(group, 3) || IsPowerOf(group, 5) || IsPowerOf(group, 7);
    }

    private static bool IsPowerOf(ulong n, ulong b)
    {
        ulong x = b;
        while (x < n) x *= b;
        return x == n;
    }
}

/// <summary>s_feature_compat bits (docs/disk-formats.md §3.2).</summary>
[Flags]
internal enum CompatFeatures : uint
{
    DirPrealloc = 0x1,
    ImagicInodes = 0x2,
    HasJournal = 0x4,
    ExtAttr = 0x8,
    ResizeInode = 0x10,
    DirIndex = 0x20,
    LazyBg = 0x40,
    ExcludeBitmap = 0x100,
    SparseSuper2 = 0x200,
    FastCommit = 0x400,
    StableInodes = 0x800,
    OrphanFile = 0x1000,
}

/// <summary>s_feature_incompat bits (docs/disk-formats.md §3.2).</summary>
[Flags]
internal enum IncompatFeatures : uint
{
    Compression = 0x1,
    FileType = 0x2,
    Recover = 0x4,
    JournalDev = 0x8,
    MetaBg = 0x10,
    Extents = 0x40,
    Bit64 = 0x80,
    Mmp = 0x100,
    FlexBg = 0x200,
    EaInode = 0x400,
    DirData = 0x1000,
    CsumSeed = 0x2000,
    LargeDir = 0x4000,
    InlineData = 0x8000,
    Encrypt = 0x10000,
    Casefold = 0x20000,
}

/// <summary>s_feature_ro_compat bits (docs/disk-formats.md §3.2).</summary>
[Flags]
internal enum RoCompatFeatures : uint
{
    SparseSuper = 0x1,
    LargeFile = 0x2,
    BtreeDir = 0x4,
    HugeFile = 0x8,
    GdtCsum = 0x10,
    DirNlink = 0x20,
    ExtraIsize = 0x40,
    HasSnapshot = 0x80,
    Quota = 0x100,
    Bigalloc = 0x200,
    MetadataCsum = 0x400,
    Replica = 0x800,
    ReadOnly = 0x1000,
    Project = 0x2000,
    SharedBlocks = 0x4000,
    Verity = 0x8000,
    OrphanPresent = 0x10000,
}
