using Microsoft.Win32.SafeHandles;
using RootfsForge.IO;
using RootfsForge.Tree;

namespace RootfsForge.Sources.Directories;

/// <summary>One name of a directory being walked: its bytes and what statx said about it when its directory was listed.</summary>
internal sealed record DirectoryNode(byte[] Name, Posix.FileStatus Status);

/// <summary>
/// <see cref="TreeWalker{TNode}"/> over a real directory. Directories are listed (getdents64 and a statx of every name)
/// when the walk descends into them, through an <see cref="OpenDirectoryStack"/>, so the walk holds one descriptor per
/// level; symlink targets and xattrs are read relative to the parent's descriptor when the entry is made.
/// </summary>
internal sealed class DirectoryWalker : TreeWalker<DirectoryNode>, IDisposable
{
    private readonly byte[] _rootPath;
    private readonly DirectorySourceOptions _options;
    private readonly List<string> _warnings;
    private readonly SafeFileHandle _rootHandle;
    private readonly OpenDirectoryStack _directories;

    /// <summary>Opens <paramref name="root"/> (following a symlink there, as a command-line argument is followed).</summary>
    public DirectoryWalker(string root, DirectorySourceOptions options, List<string> warnings)
    {
        _rootPath = FileNameEncoding.GetBytes(root);
        _options = options;
        _warnings = warnings;
        _rootHandle = Posix.OpenAt(null, _rootPath, Posix.O_RDONLY | Posix.O_DIRECTORY);
        _directories = new OpenDirectoryStack(_rootHandle);
        RootNode = new DirectoryNode([], Posix.Stat(_rootHandle));
    }

    /// <summary>The root directory, to pass to <see cref="TreeWalker{TNode}.Walk"/>.</summary>
    public DirectoryNode RootNode { get; }

    protected override object? LinkKey(DirectoryNode node) =>
        !node.Status.IsDirectory && node.Status.LinkCount > 1 ? Identity(node.Status) : null;

    protected override object? DirectoryKey(DirectoryNode node) => Identity(node.Status);

    private static (uint, uint, ulong) Identity(Posix.FileStatus st) => (st.DevMajor, st.DevMinor, st.Inode);

    protected override void Warn(string message) => _warnings.Add(message);

    protected override void ReadChildren(DirectoryNode directory, string path, List<WalkChild<DirectoryNode>> children)
    {
        var root = RootNode.Status;
        if (path.Length > 0 && !_options.CrossMountPoints
            && (directory.Status.DevMajor != root.DevMajor || directory.Status.DevMinor != root.DevMinor))
        {
            Warn($"{TreePath.Display(path)}: a mount point; its contents were not read");
            return;
        }
        SafeFileHandle handle;
        try
        {
            handle = _directories.Open(path);
        }
        catch (IOException e) when (Posix.Errno(e) is Posix.ENOENT or Posix.ENOTDIR or Posix.ELOOP)
        {
            Warn($"{TreePath.Display(path)}: vanished during the walk (or is no longer a directory); its contents were not read");
            return;
        }
        var opened = Posix.Stat(handle);
        if (Identity(opened) != Identity(directory.Status))
        {
            Warn($"{TreePath.Display(path)}: replaced during the walk; its contents were not read");
            return;
        }
        foreach (var name in Posix.ReadDirectory(handle, TreePath.Display(path)))
        {
            if (Posix.StatAt(handle, name) is { } status) children.Add(new WalkChild<DirectoryNode>(name, new DirectoryNode(name, status)));
            else Warn($"{TreePath.Display(TreePath.Join(path, FileNameEncoding.GetString(name)))}: vanished during the walk");
        }
    }

    protected override TreeEntry? CreateEntry(string path, DirectoryNode node)
    {
        var st = node.Status;
        var type = FileTypeBits.ToEntryType(st.Mode);
        if (type is null)
        {
            Warn($"{TreePath.Display(path)}: unknown file type {st.Type:x}; skipped");
            return null;
        }
        bool isRoot = path.Length == 0;
        var parent = isRoot ? _rootHandle : _directories.Open(TreePath.GetParent(path));
        string? target = null;
        IReadOnlyList<ExtendedAttribute> xattrs = [];
        try
        {
            if (type == EntryType.SymbolicLink) target = FileNameEncoding.GetString(Posix.ReadLinkBytesAt(parent, node.Name));
            if (_options.ReadExtendedAttributes)
            {
                xattrs = ReadXattrs(isRoot
                    ? Posix.XattrTarget.OfHandle(_rootHandle, "/")
                    : Posix.XattrTarget.InDirectory(parent, node.Name, TreePath.Display(path)));
            }
        }
        catch (IOException e) when (Posix.Errno(e) is Posix.ENOENT or Posix.EINVAL)
        {
            // ENOENT: removed since its directory was listed; EINVAL from readlink: no longer a symlink.
            Warn($"{TreePath.Display(path)}: vanished or changed during the walk; skipped");
            return null;
        }
        bool device = type is EntryType.CharacterDevice or EntryType.BlockDevice;
        return new TreeEntry
        {
            Path = path,
            Type = type.Value,
            Permissions = st.Mode & 0xFFF,
            Uid = st.Uid,
            Gid = st.Gid,
            ModificationTime = st.ModificationTime,
            AccessTime = st.AccessTime,
            ChangeTime = st.ChangeTime,
            Size = type is EntryType.RegularFile or EntryType.SymbolicLink ? st.Size : 0,
            DeviceMajor = device ? st.RdevMajor : 0,
            DeviceMinor = device ? st.RdevMinor : 0,
            LinkTarget = target,
            InodeId = (long)st.Inode,
            ExtendedAttributes = xattrs,
            OpenContent = type == EntryType.RegularFile ? OpenerFor(path) : null,
        };
    }

    /// <summary>The attributes of one node, sorted by name (the order <see cref="TreeEntry.ExtendedAttributes"/> promises).</summary>
    private List<ExtendedAttribute> ReadXattrs(Posix.XattrTarget target)
    {
        var result = new List<ExtendedAttribute>();
        foreach (var nameBytes in Posix.ListXattrs(target))
        {
            string name = System.Text.Encoding.UTF8.GetString(nameBytes);
            try
            {
                // Removed between the list and the read (null): not there any more, so not part of the tree.
                if (Posix.GetXattr(target, nameBytes) is { } value) result.Add(new ExtendedAttribute(name, value));
            }
            catch (IOException e) when (Posix.Errno(e) == Posix.ERANGE)
            {
                Warn($"{target.PathForErrors}: xattr {TreePath.Printable(name)} kept changing size; skipped");
            }
        }
        result.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return result;
    }

    private Func<FileContent> OpenerFor(string path)
    {
        var root = _rootPath;
        var rootHandle = _rootHandle;
        bool crossMounts = _options.CrossMountPoints;
        return () => DirectoryFileContent.Open(rootHandle, root, path, crossMounts);
    }

    public void Dispose()
    {
        _directories.Dispose();
        _rootHandle.Dispose();
    }
}
