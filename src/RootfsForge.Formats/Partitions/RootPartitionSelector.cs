namespace RootfsForge.Partitions;

/// <summary>Chooses the partition holding the root filesystem (docs/disk-formats.md §2.3).</summary>
internal static class RootPartitionSelector
{
    private static readonly string[] RootNames = ["cloudimg-rootfs", "rootfs", "root"];

    /// <summary>
    /// Picks the root partition. With <paramref name="partitionNumber"/>, that partition (which must hold ext2/3/4).
    /// Otherwise, skipping EFI system, BIOS boot and swap partitions: a Discoverable Partitions root (x86-64, arm64);
    /// then a partition whose GPT name or filesystem label is <c>cloudimg-rootfs</c>, <c>rootfs</c> or <c>root</c>; then
    /// the largest ext partition. When several ext partitions remain, those for which <paramref name="looksLikeRoot"/>
    /// returns true (e.g. "holds /etc/os-release or /sbin/init") are preferred, then Linux partition types, then size.
    /// </summary>
    /// <exception cref="UnsupportedImageException">The root is XFS, btrfs or LVM.</exception>
    /// <exception cref="ImageFormatException">There is no ext filesystem, or the requested partition holds none.</exception>
    /// <exception cref="ArgumentException">The requested partition does not exist (the caller's mistake).</exception>
    public static Partition Select(PartitionTable table, int? partitionNumber = null, Func<Partition, bool>? looksLikeRoot = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (partitionNumber is int number)
        {
            var chosen = table.Partitions.FirstOrDefault(p => p.Number == number)
                ?? throw new ArgumentException($"partition {number} does not exist; the disk has {Describe(table.Partitions)}",
                    nameof(partitionNumber));
            return RequireExt(chosen);
        }

        var candidates = table.Partitions.Where(p => !p.IsEfiSystem && !p.IsBiosBoot && !p.IsSwap).ToList();
        var ext = candidates.Where(p => p.FileSystem == FileSystemKind.Ext).ToList();

        // A DPS root partition says what it is; if it is not ext, report that rather than picking another partition.
        if (candidates.FirstOrDefault(p => p.IsDpsRoot) is { } dps)
            return RequireExt(dps);

        if (ext.FirstOrDefault(p => IsRootName(p.Name) || IsRootName(p.FileSystemLabel)) is { } named)
            return named;

        if (ext.Count == 0)
        {
            var other = candidates
                .Where(p => p.FileSystem is FileSystemKind.Xfs or FileSystemKind.Btrfs or FileSystemKind.Lvm2)
                .OrderByDescending(p => IsRootName(p.Name) || IsRootName(p.FileSystemLabel))
                .ThenByDescending(p => p.IsLinuxDataType)
                .ThenByDescending(p => p.Length)
                .FirstOrDefault();
            if (other is not null) return RequireExt(other);
            throw new ImageFormatException(
                $"no ext2/3/4 filesystem found; the disk has {Describe(table.Partitions)}", "partition table", null);
        }
        if (ext.Count == 1) return ext[0];

        // The first partition, in order of type, size and number, that looks like a root; else the first of them. Probing
        // (which opens a filesystem) stops at the first hit, so the usual single Linux root costs one probe.
        var ordered = ext
            .OrderByDescending(p => p.IsLinuxDataType)
            .ThenByDescending(p => p.Length)
            .ThenBy(p => p.Number)
            .ToList();
        if (looksLikeRoot is not null)
            foreach (var p in ordered)
                if (looksLikeRoot(p)) return p;
        return ordered[0];
    }

    private static bool IsRootName(string? name) =>
        name is not null && RootNames.Any(r => string.Equals(r, name, StringComparison.OrdinalIgnoreCase));

    private static Partition RequireExt(Partition p)
    {
        string where = p.Number == 0 ? "the disk" : $"root partition {p.Number}";
        return p.FileSystem switch
        {
            FileSystemKind.Ext => p,
            FileSystemKind.Xfs => throw new UnsupportedImageException(
                $"{where} holds XFS (RHEL family / Amazon Linux images); only ext2/3/4 is supported", "partition", p.Offset),
            FileSystemKind.Btrfs => throw new UnsupportedImageException(
                $"{where} holds btrfs (Fedora images); only ext2/3/4 is supported", "partition", p.Offset),
            FileSystemKind.Lvm2 => throw new UnsupportedImageException(
                $"{where} is an LVM2 physical volume; logical volumes are not supported, only ext2/3/4 partitions", "partition",
                p.Offset),
            // A whole disk with neither a partition table nor a known filesystem is not a disk image at all.
            FileSystemKind.Unknown when p.Number == 0 => throw new ImageFormatException(
                "the disk holds no partition table and no recognizable filesystem; only ext2/3/4 is supported", "partition",
                p.Offset, kind: ImageErrorKind.NotAnImage),
            FileSystemKind.Unknown => throw new ImageFormatException(
                $"partition {p.Number} holds no recognizable filesystem; only ext2/3/4 is supported", "partition", p.Offset),
            _ => throw new UnsupportedImageException(
                $"{(p.Number == 0 ? "the disk" : $"partition {p.Number}")} holds {p.FileSystem.ToString().ToLowerInvariant()}, not a root filesystem; only ext2/3/4 is supported",
                "partition", p.Offset),
        };
    }

    private static string Describe(IReadOnlyList<Partition> partitions) =>
        partitions.Count == 0 ? "no partitions" : string.Join(", ", partitions.Select(p => p.ToString()));
}
