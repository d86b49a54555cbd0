namespace RootfsForge.Partitions;

/// <summary>
/// Offsets and sizes of the GPT header and entries (UEFI 2.x chapter 5; docs/disk-formats.md §2.2), little-endian.
/// </summary>
internal static class GptFieldLocations
{
    public static ReadOnlySpan<byte> SignatureValue => "EFI PART"u8;
    public const int Signature = 0;
    public const int Revision = 8;
    public const int HeaderSize = 12;
    public const int HeaderCrc32 = 16;
    public const int MyLba = 24;
    public const int AlternateLba = 32;
    public const int FirstUsableLba = 40;
    public const int LastUsableLba = 48;
    public const int DiskGuid = 56;
    public const int EntriesLba = 72;
    public const int EntryCount = 80;
    public const int EntrySize = 84;
    public const int EntriesCrc32 = 88;
    public const int MinHeaderSize = 92;

    public const int MinEntrySize = 128;
    public const int MaxEntryArrayBytes = 1 << 20;

    // Entry.
    public const int EntryTypeGuid = 0;
    public const int EntryUniqueGuid = 16;
    public const int EntryFirstLba = 32;
    public const int EntryLastLba = 40; // inclusive
    public const int EntryAttributes = 48;
    public const int EntryName = 56;
    public const int EntryNameLength = 72; // 36 UTF-16LE code units
}

/// <summary>Offsets of the DOS master boot record and extended boot records (docs/disk-formats.md §2.1).</summary>
internal static class MbrFieldLocations
{
    public const int SectorSize = 512;
    public const int FirstEntry = 446;
    public const int EntryLength = 16;
    public const int EntryCount = 4;
    public const int Signature = 510; // 55 AA
    public const int EntryStatus = 0;
    public const int EntryType = 4;
    public const int EntryLbaStart = 8;
    public const int EntrySectors = 12;
    public const int MaxLogicalPartitions = 128;
}
