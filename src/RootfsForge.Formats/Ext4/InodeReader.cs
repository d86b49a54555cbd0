namespace RootfsForge.Ext4;

/// <summary>Reads inode records by number through an <see cref="InodeTableCache"/>, verifying metadata_csum (docs/disk-formats.md §3.4, §3.13).</summary>
internal sealed class InodeReader(Ext4Volume volume)
{
    /// <summary>The root directory's inode number.</summary>
    public const uint RootInode = 2;

    private readonly InodeTableCache _cache = new(volume);

    /// <summary>The byte offset of inode <paramref name="number"/>'s record, or null when the number is out of range.</summary>
    public long? OffsetOf(uint number)
    {
        var sb = volume.Superblock;
        if (number == 0 || number > sb.InodesCount) return null;
        uint group = (number - 1) / sb.InodesPerGroup;
        uint index = (number - 1) % sb.InodesPerGroup;
        if (group >= volume.Groups.Length) return null;
        return (long)volume.Groups[group].InodeTable * volume.BlockSize + (long)index * sb.InodeSize;
    }

    /// <summary>Reads and parses inode <paramref name="number"/>.</summary>
    /// <exception cref="ImageFormatException">The number is out of range, the record is damaged or its checksum fails.</exception>
    public Inode Read(uint number)
    {
        var sb = volume.Superblock;
        if (OffsetOf(number) is not long offset)
            throw new ImageFormatException($"inode number {number} is outside 1…{sb.InodesCount}", $"ext4 inode {number}");
        Span<byte> raw = stackalloc byte[sb.InodeSize];
        _cache.Read(offset, raw);
        if (volume.Verify)
        {
            var (stored, computed) = Inode.Checksums(volume.CsumSeed, number, raw);
            if (stored != computed && !raw.ContainsAnyExcept((byte)0))
                throw new ImageFormatException("the inode is zeroed (unused)", $"ext4 inode {number}", offset);
            if (stored != computed)
                throw new ImageFormatException($"checksum mismatch (stored 0x{stored:x8}, computed 0x{computed:x8})", $"ext4 inode {number}", offset,
                    kind: ImageErrorKind.ChecksumMismatch);
        }
        return Inode.Read(number, raw, (sb.RoCompat & RoCompatFeatures.HugeFile) != 0, volume.BlockSize, offset);
    }
}
