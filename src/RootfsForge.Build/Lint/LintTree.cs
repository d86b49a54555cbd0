using RootfsForge.IO;
using RootfsForge.Steps;
using RootfsForge.Tree;

namespace RootfsForge.Lint;

/// <summary>One entry as the linter sees it (lstat view).</summary>
internal sealed record LintEntry(string Path, EntryType Type, int Permissions, long Size, string? LinkTarget, int XattrCount);

/// <summary>
/// A read-only view of a tree for the linter: a directory (through <see cref="StagingRoot"/>, so nothing is followed
/// outside it) or any <see cref="ITreeSource"/> (tar, image), indexed in memory (metadata only).
/// </summary>
internal abstract class LintTree : IDisposable
{
    /// <summary>
    /// The entry at a path ("" = root) as lstat(2) in the guest sees it: symlinks among the parents resolved chroot-style,
    /// the last component not followed; null if absent.
    /// </summary>
    public abstract LintEntry? Get(string path);

    /// <summary>Names directly inside a directory (the path resolved as the guest would, a final symlink followed).</summary>
    public abstract IEnumerable<string> List(string path);

    /// <summary>Opens a regular file's content (the path must name a regular file or hard link, not a symlink).</summary>
    public abstract Stream Open(string path);

    /// <summary>Every entry (for the device, xattr and size checks).</summary>
    public abstract IEnumerable<LintEntry> All(CancellationToken cancellationToken);

    public virtual void Dispose()
    {
    }

    /// <summary>
    /// Resolves <paramref name="path"/> as the guest sees it, chroot-style (<see cref="PathResolver"/>: absolute targets
    /// from the tree root, ".." stops at the root, at most 40 links), following a final symlink too; returns the final
    /// path and entry, or null when it is dangling or loops.
    /// </summary>
    public (string Path, LintEntry Entry)? Resolve(string path)
    {
        string? resolved;
        try
        {
            resolved = PathResolver.Resolve(path, p => Get(p) is { } e ? new PathResolver.Node(e.Type, e.LinkTarget) : null, followFinal: true);
        }
        catch (ImageFormatException e) when (e.Kind == ImageErrorKind.Loop)
        {
            return null;
        }
        return resolved is not null && Get(resolved) is { } entry ? (resolved, entry) : null;
    }

    /// <summary>
    /// <see cref="Get"/> on top of <paramref name="exact"/> (the entry stored under exactly a path): the parents are
    /// resolved with <see cref="PathResolver"/>, the last component is not followed.
    /// </summary>
    protected static LintEntry? GetThroughResolver(string path, Func<string, LintEntry?> exact)
    {
        string? resolved;
        try
        {
            resolved = PathResolver.Resolve(path, p => exact(p) is { } e ? new PathResolver.Node(e.Type, e.LinkTarget) : null, followFinal: false);
        }
        catch (ImageFormatException e) when (e.Kind == ImageErrorKind.Loop)
        {
            return null;
        }
        return resolved is null ? null : exact(resolved);
    }

    /// <summary>The components of a path, without empty and "." ones.</summary>
    public static IEnumerable<string> Split(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".");

    /// <summary>A path as the tree keys it: components joined by "/", no leading slash ("" = root).</summary>
    public static string Normalize(string path) => string.Join('/', Split(path));
}

/// <summary>A directory on disk.</summary>
internal sealed class DirectoryLintTree(string root) : LintTree
{
    private readonly StagingRoot _tree = new(root);

    /// <summary>lstat through openat2(RESOLVE_IN_ROOT): the kernel resolves the parents chroot-style.</summary>
    public override LintEntry? Get(string path)
    {
        // StagingRoot refuses ".." (a write there must name its target plainly); for a lookup, resolve it first.
        if (Split(path).Contains("..")) return GetThroughResolver(Normalize(path), Get);
        path = Normalize(path);
        var st = _tree.Lstat(path);
        if (st is not { } s) return null;
        var type = FileTypeBits.ToEntryType(s.Mode)
                   ?? throw new IOException($"/{path}: st_mode 0x{s.Mode:x} has no file type");
        return new LintEntry(path, type, s.Mode & 0xFFF, s.Size, type == EntryType.SymbolicLink ? _tree.ReadLink(path) : null, 0);
    }

    public override IEnumerable<string> List(string path) => _tree.List(Normalize(path));

    public override Stream Open(string path) =>
        _tree.OpenRead(Normalize(path)) ?? throw new FileNotFoundException($"/{path} is not a regular file");

    public override IEnumerable<LintEntry> All(CancellationToken cancellationToken)
    {
        var stack = new Stack<string>();
        stack.Push("");
        while (stack.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var dir = stack.Pop();
            foreach (var name in List(dir))
            {
                var path = dir.Length == 0 ? name : dir + "/" + name;
                var e = Get(path);
                if (e is null) continue;
                var xattrs = Posix.ListXattrCount(System.IO.Path.Combine(root, path));
                yield return xattrs == 0 ? e : e with { XattrCount = xattrs };
                if (e.Type == EntryType.Directory) stack.Push(path);
            }
        }
    }

    public override void Dispose() => _tree.Dispose();
}

/// <summary>Any tree source, indexed by path (<see cref="TreeIndex"/>; contents opened on demand through the entries).</summary>
internal sealed class SourceLintTree : LintTree
{
    private readonly TreeIndex _index;
    private readonly List<FileContent> _opened = [];

    /// <summary>Over an index already built (e.g. by <see cref="IndexingTreeSource"/> during a copy).</summary>
    internal SourceLintTree(TreeIndex index) => _index = index;

    /// <summary>Indexes every entry of <paramref name="source"/>.</summary>
    public static async Task<SourceLintTree> CreateAsync(ITreeSource source, CancellationToken cancellationToken) =>
        new(await TreeIndex.BuildAsync(source, cancellationToken).ConfigureAwait(false));

    public override LintEntry? Get(string path)
    {
        var normalized = Normalize(path);
        // A parent may be a symlink (merged /usr: lib -> usr/lib): then resolve the parents as the guest would.
        return Exact(normalized) ?? GetThroughResolver(normalized, Exact);
    }

    public override IEnumerable<string> List(string path) =>
        Resolve(path) is { Entry.Type: EntryType.Directory } dir ? _index.ListDirectory(dir.Path).Select(e => e.Name) : [];

    /// <summary>The entry stored under exactly this path (a hard link reported as the file it names).</summary>
    private LintEntry? Exact(string path) =>
        _index.Exact(path) is { } e ? new LintEntry(e.Path, e.Type, e.Permissions, e.Size, e.LinkTarget, e.ExtendedAttributes.Count) : null;

    public override Stream Open(string path)
    {
        var e = _index.Exact(Normalize(path)) ?? throw new FileNotFoundException($"/{path} does not exist");
        var content = e.OpenContent?.Invoke() ?? throw new FileNotFoundException($"/{path} has no content");
        _opened.Add(content);
        return content.OpenStream();
    }

    public override void Dispose()
    {
        foreach (var c in _opened) c.Dispose();
        _opened.Clear();
    }

    public override IEnumerable<LintEntry> All(CancellationToken cancellationToken) =>
        _index.Entries.Select(e => Exact(e.Path)!);
}
