using RootfsForge.Tree;

namespace RootfsForge.Ext4;

/// <summary>Turns an inode into a <see cref="TreeEntry"/>: type, metadata, xattrs, symlink target, device numbers, content opener.</summary>
internal sealed class EntryReader(Ext4Volume volume, XattrReader xattrs)
{
    private bool _contentOpened;

    /// <summary>Set once any content of this filesystem was opened (the walk then starts prefetching content).</summary>
    public bool ContentOpened => Volatile.Read(ref _contentOpened);

    internal void OnContentOpened() => Volatile.Write(ref _contentOpened, true);

    /// <summary>The entry of <paramref name="inode"/> at <paramref name="path"/>; null for an encrypted inode (warned).</summary>
    /// <param name="path">The entry's path.</param>
    /// <param name="inode">Its inode.</param>
    /// <param name="mapContent">
    /// Map a regular file's blocks now (the walk does, so one damaged file is skipped with a warning instead of failing
    /// the consumer mid-stream, and its content can be prefetched); lookups map lazily.
    /// </param>
    /// <param name="content">A regular file's content opener (null for other types).</param>
    /// <exception cref="ImageFormatException">The inode cannot be read as an entry.</exception>
    public TreeEntry? Read(string path, Inode inode, bool mapContent, out ContentOpener? content)
    {
        content = null;
        if (inode.HasFlag(Inode.Flag.Encrypt))
        {
            volume.Warn($"{TreePath.Display(path)}: encrypted inode {inode.Number} skipped (contents and names are ciphertext)");
            return null;
        }
        EntryType type = TypeOf(inode);
        var attributes = xattrs.ReadExported(inode);
        long size = 0;
        string? target = null;
        uint major = 0, minor = 0;
        Func<FileContent>? open = null;
        switch (type)
        {
            case EntryType.RegularFile:
                if (inode.Size > long.MaxValue / 2)
                    throw new ImageFormatException($"i_size {inode.Size} is absurd", $"ext4 inode {inode.Number}", inode.Offset);
                size = (long)inode.Size;
                content = new ContentOpener(this, volume, xattrs, inode);
                if (mapContent) content.Prepare();
                open = content.Open;
                break;
            case EntryType.SymbolicLink:
                byte[] bytes = SymlinkReader.Read(volume, xattrs, inode);
                target = FileNameEncoding.GetString(bytes);
                size = bytes.Length;
                break;
            case EntryType.CharacterDevice or EntryType.BlockDevice:
                (major, minor) = DeviceNumber.Decode(inode.BlockArea);
                break;
        }
        return new TreeEntry
        {
            Path = path,
            Type = type,
            Permissions = inode.Mode & 0xFFF,
            Uid = inode.Uid,
            Gid = inode.Gid,
            ModificationTime = inode.Mtime,
            AccessTime = inode.Atime,
            ChangeTime = inode.Ctime,
            Size = size,
            DeviceMajor = major,
            DeviceMinor = minor,
            LinkTarget = target,
            InodeId = inode.Number,
            ExtendedAttributes = attributes,
            OpenContent = open,
        };
    }

    /// <summary>The entry type of an inode's mode (docs/disk-formats.md §3.4).</summary>
    /// <exception cref="ImageFormatException">The mode has no known file type.</exception>
    public static EntryType TypeOf(Inode inode) => inode.Type switch
    {
        Inode.ModeType.Dir => EntryType.Directory,
        Inode.ModeType.Reg => EntryType.RegularFile,
        Inode.ModeType.Lnk => EntryType.SymbolicLink,
        Inode.ModeType.Chr => EntryType.CharacterDevice,
        Inode.ModeType.Blk => EntryType.BlockDevice,
        Inode.ModeType.Fifo => EntryType.Fifo,
        Inode.ModeType.Sock => EntryType.Socket,
        _ => throw new ImageFormatException($"unknown file type in mode 0x{inode.Mode:x4}", $"ext4 inode {inode.Number}", inode.Offset),
    };
}
