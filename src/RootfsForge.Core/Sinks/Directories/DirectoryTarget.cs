using Microsoft.Win32.SafeHandles;
using RootfsForge.IO;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Directories;

/// <summary>
/// Where a <see cref="DirectorySink"/> builds its tree and how the result becomes the output. An empty existing directory
/// (or, with <see cref="DirectorySinkOptions.AllowNonEmptyTarget"/>, any existing directory) is written in place;
/// otherwise the tree is built under a temporary sibling <c>.NAME.tmp-XXXXXXXXXXXX</c> and renamed into place by
/// <see cref="Commit"/>, which with <see cref="DirectorySinkOptions.ReplaceExisting"/> first moves an existing output
/// aside and removes it only once the new tree is in place. Disposing without committing removes what was written: the
/// temporary tree, or the top-level entries created in an empty target (nothing in a target that was not empty).
/// </summary>
internal sealed class DirectoryTarget : IDisposable
{
    private readonly string _buildPath;
    private readonly bool _inTemporary;
    private readonly bool _replacing;
    private readonly bool _mergingIntoExisting;
    private readonly List<byte[]> _createdTopLevel = [];
    private SafeFileHandle? _root;
    private bool _committed;

    private DirectoryTarget(string path, string buildPath, bool inTemporary, bool replacing, bool mergingIntoExisting)
    {
        Path = path;
        _buildPath = buildPath;
        _inTemporary = inTemporary;
        _replacing = replacing;
        _mergingIntoExisting = mergingIntoExisting;
    }

    /// <summary>The output directory's full path.</summary>
    public string Path { get; }

    /// <summary>The directory the tree is written into (the output, or the temporary sibling).</summary>
    public SafeFileHandle Root => _root ?? throw new ObjectDisposedException(nameof(DirectoryTarget));

    /// <summary>Checks <paramref name="target"/> against <paramref name="options"/> and opens the directory to write into.</summary>
    /// <exception cref="IOException">The target exists and may not be replaced, or cannot be created.</exception>
    public static DirectoryTarget Prepare(string target, DirectorySinkOptions options)
    {
        string path = System.IO.Path.GetFullPath(target);
        bool exists = Directory.Exists(path);
        bool isOther = !exists && (File.Exists(path) || new FileInfo(path).LinkTarget is not null);
        bool nonEmpty = exists && Directory.EnumerateFileSystemEntries(path).Any();
        DirectoryTarget result;
        if (exists && (!nonEmpty || options.AllowNonEmptyTarget))
        {
            result = new DirectoryTarget(path, path, inTemporary: false, replacing: false, mergingIntoExisting: nonEmpty);
        }
        else
        {
            if ((nonEmpty || isOther) && !options.ReplaceExisting)
                throw new IOException(isOther ? $"output '{path}' exists and is not a directory" : $"output directory '{path}' is not empty");
            var parent = System.IO.Path.GetDirectoryName(path) ?? throw new IOException($"output '{path}' has no parent");
            if (!Directory.Exists(parent)) throw new IOException($"parent folder of output '{path}' does not exist");
            string temporary = System.IO.Path.Combine(parent, $".{System.IO.Path.GetFileName(path)}.tmp-{Guid.NewGuid():N}"[..^20]);
            Posix.MkdirAt(null, temporary, 0x1C0);
            result = new DirectoryTarget(path, temporary, inTemporary: true, replacing: nonEmpty || isOther, mergingIntoExisting: false);
        }
        try
        {
            result._root = Posix.OpenAt(null, result._buildPath, Posix.O_RDONLY | Posix.O_DIRECTORY);
        }
        catch
        {
            result.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>Remembers a top-level name written, to remove it again if the output is abandoned.</summary>
    public void RecordTopLevel(byte[] name)
    {
        if (!_inTemporary && !_mergingIntoExisting) _createdTopLevel.Add(name);
    }

    /// <summary>Closes the root and, when the tree was built aside, renames it into place (replacing an old output).</summary>
    public void Commit(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_root is null, this);
        _root.Dispose();
        _root = null;
        _committed = true;
        if (!_inTemporary) return;
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            string? old = null;
            if (_replacing)
            {
                // Swap: the old output goes aside first and is removed only once the new tree is in place.
                old = _buildPath + ".old";
                Posix.RenameAt(null, Path, null, old);
            }
            try
            {
                Posix.RenameAt(null, _buildPath, null, Path);
            }
            catch (IOException e)
            {
                if (old is not null) Posix.RenameAt(null, old, null, Path); // put the old output back
                throw new IOException($"cannot move the finished tree to '{Path}': {e.Message}", e);
            }
            if (old is not null) RemoveTree(null, FileNameEncoding.GetBytes(old));
        }
        catch
        {
            _committed = false; // the finished tree is removed on disposal
            throw;
        }
    }

    /// <summary>Removes what was written unless <see cref="Commit"/> succeeded; best effort.</summary>
    public void Dispose()
    {
        try
        {
            if (_committed) return;
            if (_inTemporary)
            {
                _root?.Dispose();
                _root = null;
                RemoveTree(null, FileNameEncoding.GetBytes(_buildPath));
            }
            else if (_root is not null)
            {
                foreach (var name in _createdTopLevel) RemoveTree(_root, name);
            }
        }
        catch (IOException)
        {
            // Best effort: the error that made the output incomplete matters more than a failed cleanup.
        }
        finally
        {
            _root?.Dispose();
            _root = null;
        }
    }

    /// <summary>Removes <paramref name="name"/> in <paramref name="directory"/> and everything below it, never following symlinks.</summary>
    private static void RemoveTree(SafeFileHandle? directory, byte[] name)
    {
        try
        {
            Posix.UnlinkAt(directory, name);
            return;
        }
        catch (IOException e) when (Posix.Errno(e) == Posix.ENOENT)
        {
            return;
        }
        catch (IOException e) when (Posix.Errno(e) is Posix.EISDIR or Posix.EPERM)
        {
            // A directory (unlink(2) says EISDIR on Linux, EPERM by POSIX): empty it, then remove it.
        }
        using (var child = Posix.OpenAt(directory, name, Posix.O_RDONLY | Posix.O_DIRECTORY | Posix.O_NOFOLLOW))
        {
            Posix.FChmod(child, 0x1C0, FileNameEncoding.GetString(name));
            foreach (var grandchild in Posix.ReadDirectory(child, FileNameEncoding.GetString(name))) RemoveTree(child, grandchild);
        }
        Posix.UnlinkAt(directory, name, directory: true);
    }
}
