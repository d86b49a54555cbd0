using RootfsForge.Disks;

namespace RootfsForge.Partitions;

/// <summary>One partition of a disk (or the whole disk when it holds a bare filesystem), with its probed filesystem.</summary>
public sealed class Partition
{
    internal Partition()
    {
    }

    /// <summary>GPT: entry index + 1. MBR: 1–4 primary, 5+ logical. 0 for a bare filesystem covering the disk.</summary>
    public int Number { get; internal init; }

    /// <summary>The byte offset of the partition on the disk.</summary>
    public long Offset { get; internal init; }

    /// <summary>The length in bytes.</summary>
    public long Length { get; internal init; }

    /// <summary>The GPT partition name, or null (MBR, bare filesystem, empty name).</summary>
    public string? Name { get; internal init; }

    /// <summary>The GPT partition type GUID, or null.</summary>
    public Guid? TypeGuid { get; internal init; }

    /// <summary>The GPT unique partition GUID (fstab <c>PARTUUID=</c>), or null.</summary>
    public Guid? UniqueGuid { get; internal init; }

    /// <summary>The MBR partition type byte, or null.</summary>
    public byte? MbrType { get; internal init; }

    /// <summary>A readable type name such as <c>Linux filesystem</c>, <c>EFI System</c>, <c>BIOS boot</c>.</summary>
    public string TypeName { get; internal init; } = "";

    /// <summary>The filesystem found by its magic.</summary>
    public FileSystemKind FileSystem { get; internal init; }

    /// <summary>The filesystem label (ext: superblock 0x78), or null.</summary>
    public string? FileSystemLabel { get; internal init; }

    /// <summary>The filesystem UUID (ext: superblock 0x68, as <c>blkid</c> prints it), or null.</summary>
    public Guid? FileSystemUuid { get; internal init; }

    /// <summary>A view of this partition's bytes on <paramref name="disk"/>; disposing it leaves the disk open.</summary>
    public BlockSource Open(BlockSource disk)
    {
        ArgumentNullException.ThrowIfNull(disk);
        return disk.Slice(Offset, Length);
    }

    internal bool IsEfiSystem => TypeGuid == PartitionTypes.EfiSystem || MbrType == PartitionTypes.MbrEfiSystem;
    internal bool IsBiosBoot => TypeGuid == PartitionTypes.BiosBoot;
    internal bool IsSwap => TypeGuid == PartitionTypes.LinuxSwap || MbrType == PartitionTypes.MbrLinuxSwap
                            || FileSystem == FileSystemKind.Swap;
    internal bool IsDpsRoot => TypeGuid == PartitionTypes.RootX86_64 || TypeGuid == PartitionTypes.RootArm64;
    internal bool IsLinuxDataType => TypeGuid == PartitionTypes.LinuxFileSystem || MbrType == PartitionTypes.MbrLinux || IsDpsRoot;

    /// <summary>E.g. <c>partition 1 (Linux filesystem "cloudimg-rootfs", ext, 2.0 GiB)</c>.</summary>
    public override string ToString()
    {
        string name = Name is { Length: > 0 } n ? $" \"{n}\"" : "";
        string fs = FileSystem == FileSystemKind.Unknown ? "no known filesystem" : FileSystem.ToString().ToLowerInvariant();
        return Number == 0
            ? $"whole disk ({fs}, {FormatSize(Length)})"
            : $"partition {Number} ({TypeName}{name}, {fs}, {FormatSize(Length)})";
    }

    internal static string FormatSize(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.0} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.0} KiB",
        _ => $"{bytes} B",
    };
}
