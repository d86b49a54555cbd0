namespace RootfsForge.Disks.Qcow2;

/// <summary>
/// Offsets, sizes and values of the qcow2 on-disk structures (qemu <c>docs/interop/qcow2.rst</c>;
/// docs/disk-formats.md §1).
/// </summary>
internal static class Qcow2FieldLocations
{
    // Header (docs/disk-formats.md §1.1), all big-endian.
    public const uint MagicValue = 0x514649FB; // "QFI\xfb"
    public const int Magic = 0;
    public const int Version = 4;
    public const int BackingFileOffset = 8;
    public const int BackingFileSize = 16;
    public const int ClusterBits = 20;
    public const int Size = 24;
    public const int CryptMethod = 32;
    public const int L1Size = 36;
    public const int L1TableOffset = 40;
    public const int RefcountTableOffset = 48;
    public const int RefcountTableClusters = 56;
    public const int NbSnapshots = 60;
    public const int SnapshotsOffset = 64;
    public const int V2HeaderLength = 72;
    public const int IncompatibleFeatures = 72;
    public const int CompatibleFeatures = 80;
    public const int AutoclearFeatures = 88;
    public const int RefcountOrder = 96;
    public const int HeaderLength = 100;
    public const int CompressionType = 104;
    public const int V3MinHeaderLength = 104;

    public const int MaxBackingFileNameLength = 1023;
    public const int MinClusterBits = 9;
    public const int MaxClusterBits = 21;
    public const int MinClusterBitsExtendedL2 = 14;
    public const long MaxL1TableBytes = 32L << 20;
    public const long MaxRefcountTableBytes = 8L << 20; // qemu's QCOW_MAX_REFTABLE_SIZE

    // Incompatible feature bits (docs/disk-formats.md §1.2).
    public const ulong IncompatDirty = 1UL << 0;
    public const ulong IncompatCorrupt = 1UL << 1;
    public const ulong IncompatExternalDataFile = 1UL << 2;
    public const ulong IncompatCompressionType = 1UL << 3;
    public const ulong IncompatExtendedL2 = 1UL << 4;
    public const ulong IncompatKnown = 0x1F;

    public const byte CompressionDeflate = 0;
    public const byte CompressionZstd = 1;

    // Header extensions (docs/disk-formats.md §1.3): u32 type, u32 length, data padded to 8.
    public const int ExtensionHeaderSize = 8;
    public const uint ExtensionEnd = 0;
    public const uint ExtensionBackingFormat = 0xE2792ACA;
    public const uint ExtensionFeatureNameTable = 0x6803F857;
    public const uint ExtensionBitmaps = 0x23852875;
    public const uint ExtensionFullDiskEncryption = 0x0537BE77;
    public const uint ExtensionExternalDataFile = 0x44415441;

    // L1/L2 entries (docs/disk-formats.md §1.4, §1.6). Reserved bits must be 0: L1 bits 0–8 and 56–62; a standard L2
    // descriptor's bits 1–8 and 56–61 (bit 0 is "reads as zeros" in version 3 and ignored otherwise).
    public const ulong L1OffsetMask = 0x00FFFFFFFFFFFE00;
    public const ulong L1ReservedMask = 0x7F000000000001FF;
    public const ulong L2StandardReservedMask = 0x3F000000000001FE;
    // Refcount table entries: bits 0–8 reserved, 9–63 the offset of a refcount block.
    public const ulong RefcountTableOffsetMask = 0xFFFFFFFFFFFFFE00;
    public const ulong L2Copied = 1UL << 63;
    public const ulong L2Compressed = 1UL << 62;
    public const ulong L2OffsetMask = 0x00FFFFFFFFFFFE00;
    public const ulong L2ZeroFlag = 1UL;
    public const int L2EntrySize = 8;
    public const int ExtendedL2EntrySize = 16;
    public const int SubclustersPerCluster = 32;

    // Compressed descriptor (docs/disk-formats.md §1.5): the sector count is in 512-byte units whatever the cluster
    // size.
    public const int CompressedSectorSize = 512;
}
