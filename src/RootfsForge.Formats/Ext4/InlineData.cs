namespace RootfsForge.Ext4;

/// <summary>
/// Inline data (docs/disk-formats.md §3.6): the first 60 bytes in i_block, the rest in the in-inode <c>system.data</c>
/// xattr, up to i_size.
/// </summary>
internal static class InlineData
{
    /// <summary>
    /// The inline bytes of <paramref name="inode"/>. An i_size past the inline area is an error unless
    /// <paramref name="sizeMayExceed"/> (regular files: the rest reads as zeros, see <see cref="Ext4InlineContent"/>);
    /// then only the inline bytes are returned.
    /// </summary>
    public static byte[] Read(XattrReader xattrs, Inode inode, bool sizeMayExceed = false)
    {
        var systemData = xattrs.ReadSystemData(inode);
        int room = Inode.BlockAreaSize + (systemData?.Length ?? 0);
        if (inode.Size > (ulong)room && !sizeMayExceed)
            throw new ImageFormatException($"i_size {inode.Size} exceeds the {room} bytes of inline data",
                $"ext4 inode {inode.Number} inline data", inode.Offset);
        int size = (int)Math.Min(inode.Size, (ulong)room);
        var result = new byte[size];
        int first = Math.Min(size, Inode.BlockAreaSize);
        inode.BlockArea[..first].CopyTo(result);
        if (size > first) systemData.AsSpan(0, size - first).CopyTo(result.AsSpan(first));
        return result;
    }
}
