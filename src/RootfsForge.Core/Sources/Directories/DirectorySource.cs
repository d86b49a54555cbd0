using System.Runtime.CompilerServices;
using RootfsForge.IO;
using RootfsForge.Tree;

namespace RootfsForge.Sources.Directories;

/// <summary>
/// Walks a real directory as a tree through <see cref="TreeWalker{TNode}"/>: <c>statx</c> without following symlinks,
/// extended attributes, <c>readlinkat</c>, names as bytes (so names that are not UTF-8 survive), hard links found by
/// (device, inode) of non-directories with a link count above 1 (every name after the first carries the first one's
/// metadata, xattrs included), holes found by <c>SEEK_DATA</c>/<c>SEEK_HOLE</c>. Directories are opened relative to their
/// parent with <c>O_NOFOLLOW</c>, so symlinks are never followed; mount points are not crossed unless the options say
/// so. Entries that vanish or change type while the walk runs are skipped with a warning. Linux only.
/// </summary>
public sealed class DirectorySource : ITreeSource
{
    private readonly string _root;
    private readonly DirectorySourceOptions _options;
    private readonly List<string> _warnings = [];

    /// <summary>Creates a source for the directory <paramref name="root"/> (a symlink to a directory is followed).</summary>
    /// <exception cref="DirectoryNotFoundException"><paramref name="root"/> is not a directory.</exception>
    public DirectorySource(string root, DirectorySourceOptions? options = null)
    {
        _root = Path.GetFullPath(root);
        _options = options ?? new DirectorySourceOptions();
        if (!System.IO.Directory.Exists(_root)) throw new DirectoryNotFoundException($"source directory '{_root}' does not exist");
    }

    /// <inheritdoc />
    public IReadOnlyList<string> Warnings => _warnings;

    /// <inheritdoc />
    public async IAsyncEnumerable<TreeEntry> WalkAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Every call is a local system call that completes at once: the walk runs synchronously between yields.
        using var walker = new DirectoryWalker(_root, _options, _warnings);
        foreach (var (entry, _) in walker.Walk(walker.RootNode, cancellationToken)) yield return entry;
        await Task.CompletedTask.ConfigureAwait(false);
    }
}
