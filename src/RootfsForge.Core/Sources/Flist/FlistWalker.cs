using RootfsForge.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;

namespace RootfsForge.Sources.Flist;

/// <summary>
/// <see cref="TreeWalker{TNode}"/> over the inode rows of a <c>.fl</c>: a directory's children are the rows whose parent
/// is its ino (<see cref="FlistTree"/>), sorted and checked by their stored name bytes. A <c>.fl</c> has no hard links
/// (every path has its own row, docs/flist-format.md §2.2), so no row has a link identity.
/// </summary>
internal sealed class FlistWalker(FlistFile file, FlistTree tree, BlockRouter router, List<string> warnings)
    : TreeWalker<FlistInode>
{
    protected override void ReadChildren(FlistInode directory, string path, List<WalkChild<FlistInode>> children)
    {
        foreach (var child in tree.ChildrenOf(directory.Ino)) children.Add(new WalkChild<FlistInode>(child.Name, child));
    }

    protected override void Warn(string message) => warnings.Add(message);

    protected override TreeEntry? CreateEntry(string path, FlistInode inode)
    {
        // FlistFile refused rows whose type bits are no file type.
        var type = FileTypeBits.ToEntryType(inode.Type)!.Value;
        string? target = null;
        long size = type == EntryType.RegularFile ? inode.Size : 0;
        if (type == EntryType.SymbolicLink)
        {
            if (!file.Extra.TryGetValue(inode.Ino, out var data))
                throw Bad($"{TreePath.Display(path)}: symlink has no extra row (its target)", inode, ImageErrorKind.MissingReference);
            target = FileNameEncoding.GetString(data);
            size = data.Length;
        }
        Func<FileContent>? open = null;
        if (type == EntryType.RegularFile)
        {
            var blocks = file.BlocksOf(inode.Ino);
            if (!file.HasAllBlocks(inode))
            {
                // Listing still works (rfs itself wrote such a file, see redis-latest.fl inode 1261); reading fails.
                string message = $"file of {inode.Size} bytes has {blocks.Count} block rows, expected {FlistFile.BlockCount(inode.Size)}";
                Warn($"{TreePath.Display(path)}: {message}");
                open = () => throw Bad($"{TreePath.Display(path)}: {message}", inode, ImageErrorKind.MissingReference);
            }
            else
            {
                long length = inode.Size;
                string display = TreePath.Display(path);
                open = () => new FlistFileContent(router, blocks, length, display);
            }
        }
        bool device = type is EntryType.CharacterDevice or EntryType.BlockDevice;
        // Times are whole seconds (docs/flist-format.md §2.3); any 64-bit value is a valid UnixTime and is shown
        // clamped, never computed with.
        var mtime = new UnixTime(inode.Mtime, 0);
        return new TreeEntry
        {
            Path = path,
            Type = type,
            Permissions = (int)(inode.Mode & 0xFFF),
            Uid = inode.Uid,
            Gid = inode.Gid,
            ModificationTime = mtime,
            AccessTime = mtime,
            ChangeTime = new UnixTime(inode.Ctime, 0),
            Size = size,
            DeviceMajor = device ? LinuxDeviceNumber.Major((ulong)inode.Rdev) : 0,
            DeviceMinor = device ? LinuxDeviceNumber.Minor((ulong)inode.Rdev) : 0,
            LinkTarget = target,
            InodeId = inode.Ino,
            OpenContent = open,
        };
    }

    private ImageFormatException Bad(string message, FlistInode inode, ImageErrorKind kind) =>
        new(message, inode.Structure, kind: kind) { ImagePath = file.Path };
}
