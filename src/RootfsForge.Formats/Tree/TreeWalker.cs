namespace RootfsForge.Tree;

/// <summary>One child of a directory as a source lists it: its name bytes and the source's handle for it.</summary>
internal readonly record struct WalkChild<TNode>(byte[] Name, TNode Node);

/// <summary>
/// The one walk every <see cref="ITreeSource"/> uses, so they all yield the order, paths and hard links that
/// <see cref="ITreeSource.WalkAsync"/> promises: the root first, depth-first, each directory's children sorted by their
/// name bytes; names checked against <see cref="TreePath"/> (invalid and duplicate names skipped with a warning); the
/// first path of an inode emitted as itself and every later one as a <see cref="EntryType.HardLink"/> carrying the first
/// entry's metadata; a directory reached twice (a cycle) and subtrees deeper than the depth limit skipped with a warning.
/// A source supplies how to list a directory and how to turn a node into an entry.
/// </summary>
/// <typeparam name="TNode">The source's handle for one tree node (an ext4 inode, a tar member, a directory entry).</typeparam>
internal abstract class TreeWalker<TNode>
{
    /// <summary>The default limit on directory nesting.</summary>
    public const int DefaultMaxDepth = 4096;

    private readonly int _maxDepth;

    protected TreeWalker(int maxDepth = DefaultMaxDepth) => _maxDepth = maxDepth;

    /// <summary>The entry for <paramref name="node"/> at <paramref name="path"/>; null to skip it (the source has warned).</summary>
    protected abstract TreeEntry? CreateEntry(string path, TNode node);

    /// <summary>Adds the children of the directory <paramref name="directory"/> to <paramref name="children"/>, in any order.</summary>
    protected abstract void ReadChildren(TNode directory, string path, List<WalkChild<TNode>> children);

    /// <summary>Records a warning of the walk.</summary>
    protected abstract void Warn(string message);

    /// <summary>
    /// Called with a directory's accepted children, in walk order, before the first of them becomes an entry: a source
    /// can load them in the order its storage prefers (ext4 reads their inodes in inode-number order).
    /// </summary>
    protected virtual void PrepareChildren(string path, List<WalkChild<TNode>> children)
    {
    }

    /// <summary>
    /// An identity shared by every name of one non-directory inode that may have several names (a link count above 1),
    /// or null. Later names of the same identity become hard links to the first.
    /// </summary>
    protected virtual object? LinkKey(TNode node) => null;

    /// <summary>An identity of a directory, or null when the source's directories cannot repeat (a cycle check).</summary>
    protected virtual object? DirectoryKey(TNode node) => null;

    /// <summary>Walks the tree under <paramref name="root"/>, yielding each entry with its node.</summary>
    public IEnumerable<(TreeEntry Entry, TNode Node)> Walk(TNode root, CancellationToken cancellationToken = default)
    {
        var rootEntry = CreateEntry("", root);
        if (rootEntry is null) yield break;
        yield return (rootEntry, root);
        if (rootEntry.Type != EntryType.Directory) yield break;

        var visited = new HashSet<object>();
        if (DirectoryKey(root) is { } rootKey) visited.Add(rootKey);
        var firstOfInode = new Dictionary<object, TreeEntry>();
        var stack = new Stack<Frame>();
        stack.Push(new Frame("", Children(root, ""), 0));
        while (stack.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var frame = stack.Peek();
            if (frame.Index >= frame.Children.Count)
            {
                stack.Pop();
                continue;
            }
            var child = frame.Children[frame.Index];
            string path = frame.Paths[frame.Index++];
            if (path.Length > TreePath.MaxLength)
            {
                Warn($"{TreePath.Display(path[..256])}...: path longer than {TreePath.MaxLength} characters; skipped");
                continue;
            }

            var key = LinkKey(child.Node);
            if (key is not null && firstOfInode.TryGetValue(key, out var first))
            {
                yield return (first with
                {
                    Path = path,
                    Type = EntryType.HardLink,
                    LinkTarget = first.Path,
                    Size = first.Type == EntryType.RegularFile ? first.Size : 0,
                    DeviceMajor = 0,
                    DeviceMinor = 0,
                }, child.Node);
                continue;
            }
            var entry = CreateEntry(path, child.Node);
            if (entry is null) continue;
            if (entry.Type != EntryType.Directory)
            {
                if (key is not null) firstOfInode[key] = entry;
                yield return (entry, child.Node);
                continue;
            }
            if (DirectoryKey(child.Node) is { } dirKey && !visited.Add(dirKey))
            {
                Warn($"{TreePath.Display(path)}: directory {dirKey} was already visited (a directory hard link or cycle); skipped");
                continue;
            }
            yield return (entry, child.Node);
            if (frame.Depth + 1 >= _maxDepth)
            {
                Warn($"{TreePath.Display(path)}: deeper than {_maxDepth} levels; its contents are skipped");
                continue;
            }
            stack.Push(new Frame(path, Children(child.Node, path), frame.Depth + 1));
        }
    }

    /// <summary>A directory's children: sorted by name bytes, invalid and duplicate names dropped, with their paths.</summary>
    private (List<WalkChild<TNode>> Children, string[] Paths) Children(TNode directory, string path)
    {
        var children = new List<WalkChild<TNode>>();
        ReadChildren(directory, path, children);
        children.Sort(static (a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
        int kept = 0;
        for (int i = 0; i < children.Count; i++)
        {
            var name = children[i].Name;
            if (!TreePath.IsValidName(name))
            {
                Warn($"{TreePath.Display(path)}: entry named '{TreePath.Printable(FileNameEncoding.GetString(name))}' is not a valid name; skipped");
                continue;
            }
            if (kept > 0 && children[kept - 1].Name.AsSpan().SequenceEqual(name))
            {
                Warn($"{TreePath.Display(TreePath.Join(path, FileNameEncoding.GetString(name)))}: duplicate entry skipped");
                continue;
            }
            children[kept++] = children[i];
        }
        children.RemoveRange(kept, children.Count - kept);
        PrepareChildren(path, children);
        var paths = new string[children.Count];
        for (int i = 0; i < paths.Length; i++) paths[i] = TreePath.Join(path, FileNameEncoding.GetString(children[i].Name));
        return (children, paths);
    }

    private sealed class Frame(string path, (List<WalkChild<TNode>> Children, string[] Paths) children, int depth)
    {
        public string Path { get; } = path;
        public List<WalkChild<TNode>> Children { get; } = children.Children;
        public string[] Paths { get; } = children.Paths;
        public int Depth { get; } = depth;
        public int Index { get; set; }
    }
}
