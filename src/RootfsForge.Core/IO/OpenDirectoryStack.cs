using Microsoft.Win32.SafeHandles;
using RootfsForge.Tree;

namespace RootfsForge.IO;

/// <summary>
/// The open directories on the way from a root to the directory in use, for code that visits a tree in walk order
/// (parents before children, as <see cref="ITreeSource.WalkAsync"/> yields it): asking for a directory closes the open
/// ones that are not its ancestors and opens the missing components one at a time, each relative to its parent with
/// <c>O_NOFOLLOW | O_DIRECTORY</c>. A symlink in the tree therefore never redirects a path, and a walk holds at most one
/// descriptor per level. The root handle belongs to the caller.
/// </summary>
internal sealed class OpenDirectoryStack(SafeFileHandle root) : IDisposable
{
    private readonly List<(string Path, SafeFileHandle Handle)> _open = [("", root)];

    /// <summary>The root directory.</summary>
    public SafeFileHandle Root => root;

    /// <summary>
    /// The handle of the directory <paramref name="path"/> ("" for the root; a <see cref="TreePath"/>), reusing the open
    /// ancestors. The handle stays owned by the stack: it is valid until the next call for a path outside its subtree.
    /// </summary>
    /// <exception cref="IOException">A component cannot be opened as a directory (ELOOP: a symlink; ENOTDIR; ENOENT, ...);
    /// the message names that component, <see cref="Posix.Errno"/> gives the errno.</exception>
    public SafeFileHandle Open(string path)
    {
        while (_open.Count > 1 && !IsSameOrAncestor(_open[^1].Path, path))
        {
            _open[^1].Handle.Dispose();
            _open.RemoveAt(_open.Count - 1);
        }
        var top = _open[^1];
        int start = top.Path.Length == 0 ? 0 : top.Path.Length + 1;
        while (start < path.Length)
        {
            int slash = path.IndexOf('/', start);
            int end = slash < 0 ? path.Length : slash;
            string soFar = path[..end];
            var handle = OpenChild(_open[^1].Handle, path[start..end], soFar);
            _open.Add((soFar, handle));
            start = end + 1;
        }
        return _open[^1].Handle;
    }

    /// <summary>
    /// A new handle (the caller's to dispose) of the directory <paramref name="path"/>, opened from the root one
    /// component at a time without following symlinks; the stack is left as it is.
    /// </summary>
    public SafeFileHandle OpenFromRoot(string path)
    {
        var handle = Posix.OpenAt(root, "."u8, Posix.O_RDONLY | Posix.O_DIRECTORY);
        int start = 0;
        while (start < path.Length)
        {
            int slash = path.IndexOf('/', start);
            int end = slash < 0 ? path.Length : slash;
            try
            {
                var next = OpenChild(handle, path[start..end], path[..end]);
                handle.Dispose();
                handle = next;
            }
            catch
            {
                handle.Dispose();
                throw;
            }
            start = end + 1;
        }
        return handle;
    }

    /// <summary>Closes every directory but the root.</summary>
    public void Dispose()
    {
        for (int i = _open.Count - 1; i >= 1; i--) _open[i].Handle.Dispose();
        _open.RemoveRange(1, _open.Count - 1);
    }

    private static SafeFileHandle OpenChild(SafeFileHandle parent, string name, string pathForErrors)
    {
        try
        {
            return Posix.OpenAt(parent, FileNameEncoding.GetBytes(name), Posix.O_RDONLY | Posix.O_DIRECTORY | Posix.O_NOFOLLOW);
        }
        catch (IOException e)
        {
            throw Posix.Error("open directory", pathForErrors, Posix.Errno(e));
        }
    }

    private static bool IsSameOrAncestor(string ancestor, string path) =>
        ancestor.Length == 0 || path == ancestor
        || (path.Length > ancestor.Length && path[ancestor.Length] == '/' && path.StartsWith(ancestor, StringComparison.Ordinal));
}
