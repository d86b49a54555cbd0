namespace RootfsForge.Partitions;

/// <summary>
/// The filesystem found by its magic number (docs/disk-formats.md §2.3). Only <see cref="Ext"/> can be extracted.
/// </summary>
public enum FileSystemKind
{
    /// <summary>No known magic.</summary>
    Unknown,

    /// <summary>ext2, ext3 or ext4 (<c>53 EF</c> at byte 0x438).</summary>
    Ext,

    /// <summary>XFS (<c>XFSB</c> at 0): RHEL family, Amazon Linux.</summary>
    Xfs,

    /// <summary>btrfs (<c>_BHRfS_M</c> at 0x10040): Fedora.</summary>
    Btrfs,

    /// <summary>An LVM2 physical volume (<c>LABELONE</c> in one of the first four sectors).</summary>
    Lvm2,

    /// <summary>Linux swap space.</summary>
    Swap,

    /// <summary>FAT12/16/32 (EFI system partitions).</summary>
    Vfat,
}
