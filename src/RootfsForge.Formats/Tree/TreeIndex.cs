namespace RootfsForge.Tree;

/// <summary>Path lookups in a tree: what <c>ls</c>, <c>cat</c> and the linter ask of any input.</summary>
internal interface ITreeLookup
{
    /// <summary>
    /// The entry at <paramref name="path"/>, symlinks inside the tree followed when <paramref name="followSymlinks"/>
    /// (stat; the entry's path is then the resolved one), else lstat; null when absent or dangling.
    /// </summary>
    /// <exception cref="ImageFormatException">A symlink loop (<see cref="ImageErrorKind.Loop"/>).</exception>
    TreeEntry? GetEntry(string path, bool followSymlinks);

    /// <summary>The entries of the directory at the tree path <paramref name="path"/> (not followed), sorted by name bytes.</summary>
    /// <exception cref="DirectoryNotFoundException">The path does not exist or is not a directory.</exception>
    IReadOnlyList<TreeEntry> ListDirectory(string path);
}

/// <summary>
/// The entries of any <see cref="ITreeSource"/> (a tar, a directory, a <c>.fl</c>, a container image) indexed by path in
/// memory, metadata only: contents are opened on demand through the entries, so the source must stay open while they
/// are read. Lookups resolve symlinks as <see cref="PathResolver"/> does (chroot-style, inside the tree). A hard link is
/// answered as the file it names, under its own path. Memory grows with the number of entries, never with content.
/// </summary>
internal sealed class TreeIndex : ITreeLookup
{
    private readonly Dictionary<string, TreeEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _children = new(StringComparer.Ordinal);

    /// <summary>An empty index, filled by <see cref="Add"/> (e.g. through <see cref="IndexingTreeSource"/>).</summary>
    public TreeIndex()
    {
    }

    /// <summary>Every entry but the root, as stored (hard links as <see cref="EntryType.HardLink"/> entries).</summary>
    public IEnumerable<TreeEntry> Entries => _entries.Values.Where(e => e.Path.Length > 0);

    /// <summary>Walks <paramref name="source"/> once and indexes every entry.</summary>
    public static async Task<TreeIndex> BuildAsync(ITreeSource source, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        var index = new TreeIndex();
        await foreach (var e in source.WalkAsync(cancellationToken).ConfigureAwait(false)) index.Add(e);
        return index;
    }

    /// <summary>Indexes one entry of a walk (entries in walk order: a parent before its children).</summary>
    public void Add(TreeEntry e)
    {
        _entries[e.Path] = e;
        if (e.Path.Length == 0) return;
        var parent = TreePath.GetParent(e.Path);
        if (!_children.TryGetValue(parent, out var list)) _children[parent] = list = [];
        list.Add(e.Path);
    }

    /// <summary>
    /// The entry stored under exactly the tree path <paramref name="path"/> (nothing resolved); a hard link as the file
    /// it names (type, metadata, content) with this path. Null when absent.
    /// </summary>
    public TreeEntry? Exact(string path)
    {
        if (!_entries.TryGetValue(path, out var e)) return null;
        if (e.Type == EntryType.HardLink && _entries.TryGetValue(e.LinkTarget ?? "", out var target) && target.Type != EntryType.HardLink)
            return target with { Path = e.Path };
        return e;
    }

    /// <inheritdoc />
    /// <remarks>Symlinks among the parents are always resolved (chroot-style); the last one only when asked.</remarks>
    public TreeEntry? GetEntry(string path, bool followSymlinks)
    {
        ArgumentNullException.ThrowIfNull(path);
        return ResolvePath(path, followSymlinks) is { } resolved ? Exact(resolved) : null;
    }

    /// <summary>
    /// The tree path <paramref name="path"/> resolves to (<see cref="PathResolver"/>), or null when a component is
    /// missing or a middle one is not a directory.
    /// </summary>
    /// <exception cref="ImageFormatException">A symlink loop (<see cref="ImageErrorKind.Loop"/>).</exception>
    public string? ResolvePath(string path, bool followFinal = true) =>
        PathResolver.Resolve(path, p => Exact(p) is { } e ? new PathResolver.Node(e.Type, e.LinkTarget) : null, followFinal);

    /// <inheritdoc />
    public IReadOnlyList<TreeEntry> ListDirectory(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string normalized = string.Join('/', path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != "."));
        if (Exact(normalized) is not { Type: EntryType.Directory })
            throw new DirectoryNotFoundException($"no directory '{path}' in the tree");
        return _children.TryGetValue(normalized, out var children) ? children.Select(c => Exact(c)!).ToList() : [];
    }
}
