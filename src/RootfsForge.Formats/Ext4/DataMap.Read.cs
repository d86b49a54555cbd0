namespace RootfsForge.Ext4;

internal sealed partial class DataMap
{
    /// <summary>
    /// The written blocks of an extent- or block-mapped inode below its size (docs/disk-formats.md §3.5). Inline-data
    /// inodes have no block map.
    /// </summary>
    public static DataMap Read(Ext4Volume volume, Inode inode)
    {
        if (inode.HasFlag(Inode.Flag.InlineData))
            throw new ImageFormatException("inline-data inodes have no block map", $"ext4 inode {inode.Number}", inode.Offset);
        long size = (long)Math.Min(inode.Size, long.MaxValue / 2);
        long limit = (size + volume.BlockSize - 1) / volume.BlockSize;
        // Logical block numbers are 32-bit (docs/disk-formats.md §3.5): nothing can be mapped above 2^32.
        limit = Math.Min(limit, 1L << 32);
        var builder = new Builder(inode, limit);
        if (inode.HasFlag(Inode.Flag.Extents)) ExtentTree.Map(volume, inode, builder);
        else IndirectBlockMap.Map(volume, inode, builder);
        return new DataMap(builder.ToArray(), size);
    }

    /// <summary>The device block holding logical block <paramref name="logical"/>, or -1 for a hole.</summary>
    public long PhysicalBlock(long logical)
    {
        int i = FindRun(logical);
        if (i >= Runs.Length || Runs[i].Logical > logical) return -1;
        return Runs[i].Physical + (logical - Runs[i].Logical);
    }
}
