using System.Runtime.CompilerServices;

namespace RootfsForge.Tree;

/// <summary>
/// A source with files added at its root (or replacing same-named root entries), in walk order: what a build adds to a
/// tree it did not make, such as a container flist's <c>/.startup.toml</c>.
/// </summary>
public sealed class TreeOverlay : ITreeSource
{
    private readonly ITreeSource _inner;
    private readonly List<TreeEntry> _additions;

    /// <summary>Adds <paramref name="additions"/> to <paramref name="inner"/>'s root.</summary>
    /// <param name="inner">The tree.</param>
    /// <param name="additions">Non-directory entries whose paths are single names; an entry of the same name in the tree
    /// (with everything below it, if it is a directory) is replaced.</param>
    /// <exception cref="ArgumentException">An addition is a directory, a hard link or not a top-level name.</exception>
    public TreeOverlay(ITreeSource inner, IEnumerable<TreeEntry> additions)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(additions);
        _inner = inner;
        _additions = [.. additions];
        foreach (var a in _additions)
        {
            if (!TreePath.IsValid(a.Path) || a.Path.Length == 0 || a.Path.Contains('/'))
                throw new ArgumentException($"'{a.Path}' is not a name at the root", nameof(additions));
            if (a.Type is EntryType.Directory or EntryType.HardLink)
                throw new ArgumentException($"'{a.Path}': only files, symlinks and special files can be added", nameof(additions));
        }
        _additions.Sort((x, y) => Compare(x.Path, y.Path));
        for (int i = 1; i < _additions.Count; i++)
            if (_additions[i].Path == _additions[i - 1].Path) throw new ArgumentException($"'{_additions[i].Path}' is added twice", nameof(additions));
    }

    /// <inheritdoc />
    public IReadOnlyList<string> Warnings => _inner.Warnings;

    /// <inheritdoc />
    public async IAsyncEnumerable<TreeEntry> WalkAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        int next = 0;
        string? replaced = null; // a top-level name of the tree an addition replaces (with its subtree)
        await foreach (var entry in _inner.WalkAsync(cancellationToken).ConfigureAwait(false))
        {
            if (entry.Path.Length == 0)
            {
                yield return entry;
                continue;
            }
            int slash = entry.Path.IndexOf('/');
            string top = slash < 0 ? entry.Path : entry.Path[..slash];
            if (replaced is not null && top == replaced) continue;
            while (next < _additions.Count && Compare(_additions[next].Path, top) <= 0)
            {
                var addition = _additions[next++];
                yield return addition;
                if (addition.Path == top) replaced = top;
            }
            if (replaced is not null && top == replaced) continue;
            yield return entry;
        }
        while (next < _additions.Count) yield return _additions[next++];
    }

    /// <summary>Walk order of two names: by their bytes.</summary>
    private static int Compare(string a, string b) => FileNameEncoding.CompareBytes(a, b);
}
