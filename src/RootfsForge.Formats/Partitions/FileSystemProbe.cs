using System.Buffers.Binary;
using System.Text;
using RootfsForge.Disks;

namespace RootfsForge.Partitions;

/// <summary>
/// Identifies a filesystem by its magic number (docs/disk-formats.md §2.3) and reads its label and UUID where known.
/// </summary>
internal static class FileSystemProbe
{
    // ext2/3/4 superblock at byte 1024 (docs/disk-formats.md §3.1).
    private const int ExtSuperblock = 1024;
    private const int ExtMagic = ExtSuperblock + 0x38;
    private const int ExtUuid = ExtSuperblock + 0x68;
    private const int ExtVolumeName = ExtSuperblock + 0x78;
    private const int ExtVolumeNameLength = 16;
    // XFS superblock at 0: magic, sb_uuid @32, sb_fname[12] @108.
    private const int XfsUuid = 32;
    private const int XfsName = 108;
    private const int XfsNameLength = 12;
    // btrfs superblock at 64 KiB: fsid @0x20, magic @0x40, label[256] @0x12B.
    private const int BtrfsSuperblock = 0x10000;
    private const int BtrfsMagic = BtrfsSuperblock + 0x40;
    private const int BtrfsFsid = BtrfsSuperblock + 0x20;
    private const int BtrfsLabel = BtrfsSuperblock + 0x12B;
    private const int BtrfsLabelLength = 256;
    // swap: signature in the last 10 bytes of the first page; header after the 1 KiB boot area: uuid @12, label @28.
    private const int SwapUuid = 1024 + 12;
    private const int SwapLabel = 1024 + 28;
    private const int SwapLabelLength = 16;
    // FAT boot sector.
    private const int FatBootSignature = 510;
    private const int Fat16Type = 54;
    private const int Fat16Label = 43;
    private const int Fat32Type = 82;
    private const int Fat32Label = 71;
    private const int FatLabelLength = 11;
    private const int ProbeLength = 0x10000 + 0x1000;

    /// <summary>The filesystem on <paramref name="source"/>, by magic; <see cref="FileSystemKind.Unknown"/> if none.</summary>
    public static FileSystemKind Detect(BlockSource source) => Probe(source).Kind;

    /// <summary>Kind, label and UUID. Reads at most 68 KiB.</summary>
    internal static (FileSystemKind Kind, string? Label, Guid? Uuid) Probe(BlockSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        byte[] buffer = new byte[(int)Math.Min(ProbeLength, source.Length)];
        int n = source.ReadAt(0, buffer);
        var b = buffer.AsSpan(0, n);

        for (int sector = 0; sector < 4; sector++)
            if (Has(b, sector * 512, "LABELONE"u8)) return (FileSystemKind.Lvm2, null, null);
        if (b.Length >= ExtSuperblock + 1024 && BinaryPrimitives.ReadUInt16LittleEndian(b[ExtMagic..]) == 0xEF53)
            return (FileSystemKind.Ext, Text(b.Slice(ExtVolumeName, ExtVolumeNameLength)), new Guid(b.Slice(ExtUuid, 16), bigEndian: true));
        if (Has(b, 0, "XFSB"u8) && b.Length >= 512)
            return (FileSystemKind.Xfs, Text(b.Slice(XfsName, XfsNameLength)), new Guid(b.Slice(XfsUuid, 16), bigEndian: true));
        if (Has(b, BtrfsMagic, "_BHRfS_M"u8) && b.Length >= BtrfsLabel + BtrfsLabelLength)
            return (FileSystemKind.Btrfs, Text(b.Slice(BtrfsLabel, BtrfsLabelLength)), new Guid(b.Slice(BtrfsFsid, 16), bigEndian: true));
        foreach (int page in (ReadOnlySpan<int>)[4096, 8192, 16384, 65536])
        {
            if (Has(b, page - 10, "SWAPSPACE2"u8) || Has(b, page - 10, "SWAP-SPACE"u8))
                return (FileSystemKind.Swap, Text(b.Slice(SwapLabel, SwapLabelLength)), new Guid(b.Slice(SwapUuid, 16), bigEndian: true));
        }
        if (b.Length >= 512 && b[FatBootSignature] == 0x55 && b[FatBootSignature + 1] == 0xAA)
        {
            if (Has(b, Fat32Type, "FAT32   "u8)) return (FileSystemKind.Vfat, FatLabel(b.Slice(Fat32Label, FatLabelLength)), null);
            if (Has(b, Fat16Type, "FAT12   "u8) || Has(b, Fat16Type, "FAT16   "u8) || Has(b, Fat16Type, "FAT     "u8))
                return (FileSystemKind.Vfat, FatLabel(b.Slice(Fat16Label, FatLabelLength)), null);
        }
        return (FileSystemKind.Unknown, null, null);
    }

    private static bool Has(ReadOnlySpan<byte> b, int offset, ReadOnlySpan<byte> magic) =>
        offset >= 0 && offset + magic.Length <= b.Length && b.Slice(offset, magic.Length).SequenceEqual(magic);

    private static string? Text(ReadOnlySpan<byte> field)
    {
        int nul = field.IndexOf((byte)0);
        if (nul >= 0) field = field[..nul];
        return field.IsEmpty ? null : Encoding.UTF8.GetString(field);
    }

    private static string? FatLabel(ReadOnlySpan<byte> field)
    {
        string? s = Text(field)?.TrimEnd();
        return string.IsNullOrEmpty(s) || s == "NO NAME" ? null : s;
    }
}
