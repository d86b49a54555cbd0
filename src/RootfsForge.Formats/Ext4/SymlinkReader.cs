namespace RootfsForge.Ext4;

/// <summary>Reads a symlink's target bytes, deciding its storage form as docs/disk-formats.md §3.9 orders it.</summary>
internal static class SymlinkReader
{
    /// <summary>The longest symlink target read (PATH_MAX is 4096; ext4 allows up to a block).</summary>
    internal const int MaxLength = 65536;

    public static byte[] Read(Ext4Volume volume, XattrReader xattrs, Inode inode)
    {
        string what = $"ext4 inode {inode.Number} symlink";
        if (inode.Size > MaxLength)
            throw new ImageFormatException($"symlink length {inode.Size} exceeds {MaxLength}", what, inode.Offset,
                kind: ImageErrorKind.LimitExceeded);
        int size = (int)inode.Size;
        if (inode.HasFlag(Inode.Flag.InlineData)) return InlineData.Read(xattrs, inode);
        var sb = volume.Superblock;
        bool fast;
        if ((sb.Incompat & IncompatFeatures.EaInode) != 0)
        {
            // i_blocks may count EA-inode references here, so only the size can tell.
            fast = size > 0 && size < Inode.BlockAreaSize;
        }
        else
        {
            ulong xattrBlocks = inode.FileAcl != 0 ? (ulong)(sb.ClusterSize / 512) : 0;
            fast = inode.Blocks512 <= xattrBlocks;
        }
        if (fast)
        {
            if (size > Inode.BlockAreaSize)
                throw new ImageFormatException($"fast symlink length {size} exceeds {Inode.BlockAreaSize} bytes", what, inode.Offset);
            return inode.BlockArea[..size].ToArray();
        }
        using var content = new Ext4FileContent(volume, DataMap.Read(volume, inode));
        var bytes = new byte[size];
        content.ReadExactlyAt(0, bytes);
        return bytes;
    }
}
