using RootfsForge.Tree;

namespace RootfsForge.Ext4;

/// <summary>One directory entry's inode during a walk: its number, the inode once read, and a regular file's content opener.</summary>
internal sealed class Ext4Node(uint number, Inode? inode = null)
{
    public uint Number { get; } = number;

    /// <summary>The inode; null until read, and when it could not be read (warned).</summary>
    public Inode? Inode { get; set; } = inode;

    /// <summary>The content opener of the entry made from this node (regular files).</summary>
    public ContentOpener? Content { get; set; }
}

/// <summary>
/// The ext4 side of the shared <see cref="TreeWalker{TNode}"/> (docs/disk-formats.md §3.12, §3.14): lists directories
/// from their dirents, reads each directory's accepted children's inodes in inode-number order, and turns inodes into
/// entries. Unreadable directories and inodes are skipped with a warning; checksum mismatches always throw.
/// </summary>
internal sealed class Ext4TreeWalker : TreeWalker<Ext4Node>
{
    private readonly Ext4Volume _volume;
    private readonly InodeReader _inodes;
    private readonly DirectoryReader _directories;
    private readonly EntryReader _entries;
    private readonly uint? _listOnly;

    /// <param name="volume">The filesystem.</param>
    /// <param name="inodes">Reads the children's inodes.</param>
    /// <param name="directories">Lists directories.</param>
    /// <param name="entries">Turns inodes into entries.</param>
    /// <param name="maxDepth">The deepest directory level entered.</param>
    /// <param name="listOnly">
    /// List only the directory with this inode number (the root of the walk): one level, regular files mapped lazily, no
    /// hard-link entries (<see cref="Ext4FileSystem.ListDirectory"/>). Null for a whole walk.
    /// </param>
    public Ext4TreeWalker(Ext4Volume volume, InodeReader inodes, DirectoryReader directories, EntryReader entries, int maxDepth,
        uint? listOnly = null)
        : base(maxDepth)
    {
        _volume = volume;
        _inodes = inodes;
        _directories = directories;
        _entries = entries;
        _listOnly = listOnly;
    }

    protected override void Warn(string message) => _volume.Warn(message);

    protected override void ReadChildren(Ext4Node directory, string path, List<WalkChild<Ext4Node>> children)
    {
        if (directory.Inode is not { } dir) return;
        if (_listOnly is { } only && directory.Number != only) return;
        List<DirectoryEntry> dirents;
        try
        {
            dirents = _directories.Read(dir, path);
        }
        catch (ImageFormatException e) when (e.Kind != ImageErrorKind.ChecksumMismatch)
        {
            Warn($"{TreePath.Display(path)}: directory unreadable, its contents are skipped: {e.Message}");
            return;
        }
        var sb = _volume.Superblock;
        bool dot = false, dotDot = false;
        children.EnsureCapacity(dirents.Count);
        foreach (var d in dirents)
        {
            var name = d.Name;
            // Every block directory starts with '.' and '..' (docs/disk-formats.md §3.7): expected, not entries.
            if (name is [(byte)'.'])
            {
                if (dot) Warn($"{TreePath.Display(path)}: extra '.' entry skipped");
                dot = true;
                continue;
            }
            if (name is [(byte)'.', (byte)'.'])
            {
                if (dotDot) Warn($"{TreePath.Display(path)}: extra '..' entry skipped");
                dotDot = true;
                continue;
            }
            if (d.Inode < sb.FirstIno && d.Inode != InodeReader.RootInode)
            {
                // Reserved inodes (journal, resize inode, ...) are never part of the tree (docs/disk-formats.md §3.12).
                Warn($"{TreePath.Display(TreePath.Join(path, TreePath.Printable(FileNameEncoding.GetString(name))))}: points at reserved inode {d.Inode}; skipped");
                continue;
            }
            children.Add(new WalkChild<Ext4Node>(name, new Ext4Node(d.Inode)));
        }
    }

    /// <summary>Reads the children's inodes in inode-number order: name order jumps around the inode tables, inode order streams them.</summary>
    protected override void PrepareChildren(string path, List<WalkChild<Ext4Node>> children)
    {
        int count = children.Count;
        if (count == 0) return;
        var numbers = new uint[count];
        var order = new int[count];
        for (int i = 0; i < count; i++)
        {
            numbers[i] = children[i].Node.Number;
            order[i] = i;
        }
        Array.Sort(numbers, order);
        foreach (int i in order)
        {
            var node = children[i].Node;
            try
            {
                node.Inode = _inodes.Read(node.Number);
            }
            catch (ImageFormatException e) when (e.Kind != ImageErrorKind.ChecksumMismatch)
            {
                Warn($"{TreePath.Display(TreePath.Join(path, FileNameEncoding.GetString(children[i].Name)))}: skipped: {e.Message}");
            }
        }
    }

    protected override TreeEntry? CreateEntry(string path, Ext4Node node)
    {
        if (node.Inode is not { } inode) return null; // unreadable: warned by PrepareChildren
        try
        {
            var entry = _entries.Read(path, inode, mapContent: _listOnly is null, out var content);
            node.Content = content;
            return entry;
        }
        catch (ImageFormatException e) when (e.Kind != ImageErrorKind.ChecksumMismatch)
        {
            Warn($"{TreePath.Display(path)}: skipped: {e.Message}");
            return null;
        }
    }

    /// <summary>
    /// An inode with several names (docs/disk-formats.md §3.12); directories are never linked and their link count is
    /// ignored.
    /// </summary>
    protected override object? LinkKey(Ext4Node node) =>
        _listOnly is null && node.Inode is { LinksCount: > 1, IsDirectory: false } ? node.Number : null;

    protected override object? DirectoryKey(Ext4Node node) => node.Number;
}
