namespace RootfsForge.Tree;

/// <summary>
/// Resolves a path inside a tree the way the kernel resolves it inside a chroot at the tree's root: <c>.</c> and empty
/// components are skipped, <c>..</c> goes up (never above the root), symlinks are followed with absolute targets
/// starting again at the tree's root, at most <see cref="MaxSymlinks"/> of them (the kernel's limit). Used by every
/// lookup that follows links: the image commands, the VM lint, the library's lookups.
/// </summary>
internal static class PathResolver
{
    /// <summary>The most symlinks followed in one resolution (Linux's MAXSYMLINKS).</summary>
    public const int MaxSymlinks = 40;

    /// <summary>What a lookup needs of one path: its type and, for a symlink, its target.</summary>
    public readonly record struct Node(EntryType Type, string? LinkTarget);

    /// <summary>
    /// The resolved tree path of <paramref name="path"/> (a valid <see cref="TreePath"/>), or null when a component does
    /// not exist or a non-final component is not a directory.
    /// </summary>
    /// <param name="path">Absolute or relative to the root (<c>/etc/os-release</c>, <c>etc/os-release</c>).</param>
    /// <param name="lstat">The node at a resolved tree path, without following it; null when absent.</param>
    /// <param name="followFinal">Follow a symlink in the last component too (stat rather than lstat).</param>
    /// <exception cref="ImageFormatException">More than <see cref="MaxSymlinks"/> symlinks (a loop).</exception>
    public static string? Resolve(string path, Func<string, Node?> lstat, bool followFinal)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(lstat);
        var pending = new Stack<string>();
        PushComponents(pending, path);
        var resolved = new List<string>();
        int links = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part == "..")
            {
                if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            if (!TreePath.IsValidName(part)) return null;
            resolved.Add(part);
            string current = string.Join('/', resolved);
            if (lstat(current) is not { } node) return null;
            bool last = pending.Count == 0;
            if (node.Type == EntryType.SymbolicLink && (!last || followFinal))
            {
                if (++links > MaxSymlinks)
                    throw new ImageFormatException($"'{TreePath.Printable(path)}': more than {MaxSymlinks} levels of symbolic links",
                        "path lookup", kind: ImageErrorKind.Loop);
                resolved.RemoveAt(resolved.Count - 1);
                string target = SymlinkTarget.AsKernelReadsIt(node.LinkTarget, out _);
                if (target.Length == 0) return null;
                if (target.StartsWith('/')) resolved.Clear();
                PushComponents(pending, target);
                continue;
            }
            if (!last && node.Type != EntryType.Directory) return null;
        }
        return string.Join('/', resolved);
    }

    private static void PushComponents(Stack<string> pending, string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (int i = parts.Length - 1; i >= 0; i--)
            if (parts[i] != ".") pending.Push(parts[i]);
    }
}
