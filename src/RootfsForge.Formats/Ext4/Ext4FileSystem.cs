using System.Runtime.CompilerServices;
using RootfsForge.Disks;
using RootfsForge.Tree;

namespace RootfsForge.Ext4;

/// <summary>
/// A read-only ext2/ext3/ext4 filesystem on a <see cref="BlockSource"/>, read in-process (no mount): its superblock facts,
/// its tree as a stream of <see cref="TreeEntry"/> values, and single lookups (docs/disk-formats.md §3).
/// </summary>
/// <remarks>
/// Safe for one walk at a time; content readers returned by <see cref="TreeEntry.OpenContent"/> may be used from other
/// threads. Problems that were skipped are collected in <see cref="Warnings"/>. Disposing does not dispose the device
/// passed to <see cref="Open"/>.
/// </remarks>
public sealed class Ext4FileSystem : ITreeSource, ITreeLookup, IDisposable
{
    private readonly Ext4Options _options;
    private readonly BlockSource? _ownedDevice;
    private readonly XattrReader _xattrs;
    private readonly DirectoryReader _directories;
    private readonly EntryReader _entries;

    private Ext4FileSystem(Ext4Volume volume, Ext4Options options, bool replayed, BlockSource? ownedDevice)
    {
        Volume = volume;
        _options = options;
        _ownedDevice = ownedDevice;
        Inodes = new InodeReader(volume);
        _xattrs = new XattrReader(volume, Inodes);
        _directories = new DirectoryReader(volume, _xattrs);
        _entries = new EntryReader(volume, _xattrs);
        Info = Ext4Info.From(volume.Superblock, replayed);
    }

    /// <summary>Superblock facts.</summary>
    public Ext4Info Info { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> Warnings => Volume.Warnings;

    internal Ext4Volume Volume { get; }
    internal InodeReader Inodes { get; }

    /// <summary>
    /// Opens the filesystem on <paramref name="device"/> (the partition or whole image holding it). Reads the superblock
    /// (falling back to the group-1 backup when the primary is unusable) and the group descriptors; replays the journal
    /// in memory when needed and possible (docs/disk-formats.md §3.13).
    /// </summary>
    /// <exception cref="UnsupportedImageException">The filesystem uses a feature this reader refuses
    /// (docs/disk-formats.md §3.2).</exception>
    /// <exception cref="ImageFormatException">The superblock or the group descriptors are corrupt.</exception>
    public static Ext4FileSystem Open(BlockSource device, Ext4Options? options = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        options ??= new Ext4Options();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxDepth, 1, nameof(options));
        var (volume, replayed, overlay) = VolumeOpener.Open(device, options);
        return new Ext4FileSystem(volume, options, replayed, overlay);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The walk itself (directories, inodes, extent maps: metadata that a qcow2 image must decompress too) runs on its
    /// own thread, up to 16 MiB of file content (at most 1,024 entries) ahead of the consumer; once the consumer opens a
    /// file's content, the walk also hints the device to decode the content of the entries it holds
    /// (docs/disk-formats.md §3.14). A consumer that never opens contents (inspect, ls) causes no content decoding. An
    /// error of the walk surfaces after the entries before it; cancelling stops the consumer at once, and disposing the
    /// enumerator stops the walk and waits for its thread.
    /// </remarks>
    /// <exception cref="ImageFormatException">The root is not a directory, or a checksum fails with checksum verification on.</exception>
    public async IAsyncEnumerable<TreeEntry> WalkAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var root = new Ext4Node(InodeReader.RootInode, ReadRoot());
        var walker = new Ext4TreeWalker(Volume, Inodes, _directories, _entries, _options.MaxDepth);
        var ahead = new WalkLookahead(WithContent(walker, root, cancellationToken), () => _entries.ContentOpened);
        await using (ahead.ConfigureAwait(false))
        {
            while (await ahead.TakeAsync(cancellationToken).ConfigureAwait(false) is { } entry) yield return entry;
        }
    }

    /// <summary>The walk's entries with their content openers (regular files; hard links carry none).</summary>
    private static IEnumerable<(TreeEntry Entry, ContentOpener? Content)> WithContent(Ext4TreeWalker walker, Ext4Node root,
        CancellationToken cancellationToken)
    {
        foreach (var (entry, node) in walker.Walk(root, cancellationToken))
        {
            var content = entry.Type == EntryType.RegularFile ? node.Content : null;
            node.Content = null; // the entry holds it now; the directory's frame need not keep its block map
            yield return (entry, content);
        }
    }

    private Inode ReadRoot()
    {
        var root = Inodes.Read(InodeReader.RootInode);
        if (!root.IsDirectory)
            throw new ImageFormatException($"the root inode is not a directory (mode 0x{root.Mode:x4})",
                $"ext4 inode {InodeReader.RootInode}", root.Offset);
        return root;
    }

    /// <summary>
    /// The entry at <paramref name="path"/> (absolute or relative to the root; "" or "/" is the root), like lstat: a
    /// symlink at the end is returned itself, and one in the middle is not followed (the lookup fails). Null when absent.
    /// </summary>
    /// <exception cref="ImageFormatException">The filesystem is damaged along the path.</exception>
    public TreeEntry? GetEntry(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var (inode, normalized) = Lookup(path);
        return inode is null ? null : _entries.Read(normalized, inode, mapContent: false, out _);
    }

    /// <summary>
    /// The entry at <paramref name="path"/>, following symlinks inside the filesystem when <paramref name="followSymlinks"/>
    /// (like stat, as if the filesystem were the root: see <see cref="ResolvePath"/>); the entry's path is then the
    /// resolved one. Without it, the same as <see cref="GetEntry(string)"/>. Null when absent or dangling.
    /// </summary>
    /// <exception cref="ImageFormatException">A symlink loop (<see cref="ImageErrorKind.Loop"/>), or damage along the path.</exception>
    public TreeEntry? GetEntry(string path, bool followSymlinks)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!followSymlinks) return GetEntry(path);
        return ResolvePath(path) is { } resolved ? GetEntry(resolved) : null;
    }

    /// <summary>
    /// Resolves <paramref name="path"/> the way the kernel would inside a chroot at this filesystem's root: every symlink
    /// (the last component's too) followed, absolute targets starting again at the root, <c>..</c> never above it, at most
    /// <see cref="PathResolver.MaxSymlinks"/> links. Returns the resolved path (a <see cref="TreePath"/>: "" for the
    /// root), or null when a component is missing or a middle component is not a directory.
    /// </summary>
    /// <exception cref="ImageFormatException">A symlink loop (<see cref="ImageErrorKind.Loop"/>), or damage along the path.</exception>
    public string? ResolvePath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return PathResolver.Resolve(path, LstatNode, followFinal: true);
    }

    /// <summary>
    /// Opens the content of the regular file at <paramref name="path"/>, following symlinks as <see cref="ResolvePath"/>
    /// does. The caller disposes the reader.
    /// </summary>
    /// <exception cref="FileNotFoundException">The path does not exist (or is a dangling link).</exception>
    /// <exception cref="IOException">The path is not a regular file.</exception>
    /// <exception cref="ImageFormatException">A symlink loop, or damage along the path or in the file's block map.</exception>
    public FileContent OpenFile(string path)
    {
        var entry = GetEntry(path, followSymlinks: true)
            ?? throw new FileNotFoundException($"no file '{path}' in the ext4 filesystem", path);
        if (entry.OpenContent is not { } open)
            throw new IOException($"'{path}' in the ext4 filesystem is a {entry.Type}, not a regular file");
        return open();
    }

    /// <summary>
    /// The entries of the directory at <paramref name="path"/> (lstat rules, as <see cref="GetEntry(string)"/>), sorted by
    /// name bytes, with the names the walk would accept; not recursive, and a second name of an inode is a full entry.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The path does not exist or is not a directory.</exception>
    public IReadOnlyList<TreeEntry> ListDirectory(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var (inode, normalized) = Lookup(path);
        if (inode is null || !inode.IsDirectory) throw new DirectoryNotFoundException($"no directory '{path}' in the ext4 filesystem");
        var walker = new Ext4TreeWalker(Volume, Inodes, _directories, _entries, TreeWalker<Ext4Node>.DefaultMaxDepth,
            listOnly: inode.Number);
        var list = new List<TreeEntry>();
        foreach (var (entry, _) in walker.Walk(new Ext4Node(inode.Number, inode)))
        {
            if (entry.Path.Length == 0) continue; // the directory itself
            list.Add(normalized.Length == 0 ? entry : entry with { Path = TreePath.Join(normalized, entry.Path) });
        }
        return list;
    }

    /// <summary>lstat for <see cref="PathResolver"/>: the type and symlink target at a tree path.</summary>
    private PathResolver.Node? LstatNode(string path)
    {
        var (inode, _) = Lookup(path);
        if (inode is null) return null;
        var type = EntryReader.TypeOf(inode);
        string? target = type == EntryType.SymbolicLink
            ? FileNameEncoding.GetString(SymlinkReader.Read(Volume, _xattrs, inode)) : null;
        return new PathResolver.Node(type, target);
    }

    /// <summary>The inode at <paramref name="path"/> and its normalized tree path, without following symlinks; null when absent.</summary>
    private (Inode? Inode, string Path) Lookup(string path)
    {
        var inode = ReadRoot();
        string current = "";
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == ".." || !inode.IsDirectory) return (null, "");
            byte[] name = FileNameEncoding.GetBytes(part);
            uint found = 0;
            foreach (var d in _directories.Read(inode, current))
            {
                if (d.Name.AsSpan().SequenceEqual(name))
                {
                    found = d.Inode;
                    break;
                }
            }
            if (found == 0) return (null, "");
            inode = Inodes.Read(found);
            current = TreePath.Join(current, part);
        }
        return (inode, current);
    }

    /// <summary>Releases the in-memory journal overlay, if any; the device passed to <see cref="Open"/> stays open.</summary>
    public void Dispose() => _ownedDevice?.Dispose();
}
