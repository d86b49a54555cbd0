using Microsoft.Win32.SafeHandles;
using RootfsForge.IO;

namespace RootfsForge.Steps;

/// <summary>
/// File operations inside a staging root that can never reach outside it: every path is resolved by the kernel with
/// openat2(RESOLVE_IN_ROOT), so symlinks (absolute or with <c>..</c>) resolve against the staging root exactly as a
/// chroot would see them, and final components are created, replaced or removed with the *at calls without following them.
/// </summary>
internal sealed class StagingRoot : IDisposable
{
    private const ulong InRoot = Posix.RESOLVE_IN_ROOT | Posix.RESOLVE_NO_MAGICLINKS;
    private const int MaxDepth = 4096;
    private readonly SafeFileHandle _root;

    /// <summary>Opens the root directory (which must be a real directory, not a symlink).</summary>
    public StagingRoot(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        _root = Posix.OpenAt(null, Path, Posix.O_PATH | Posix.O_DIRECTORY | Posix.O_NOFOLLOW);
    }

    /// <summary>The host path of the root.</summary>
    public string Path { get; }

    /// <summary>The root directory handle.</summary>
    public SafeFileHandle Handle => _root;

    /// <summary>Splits a tree path ("/etc/x", "etc/x") into its parent ("etc") and its final name ("x").</summary>
    public static (string Parent, string Name) Split(string path)
    {
        var clean = Normalize(path);
        if (clean.Length == 0) throw new ArgumentException($"'{path}' names the tree root, not an entry in it");
        int slash = clean.LastIndexOf('/');
        return slash < 0 ? ("", clean) : (clean[..slash], clean[(slash + 1)..]);
    }

    /// <summary>Removes leading and duplicate slashes and "." components; refuses ".." components.</summary>
    public static string Normalize(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToArray();
        if (parts.Any(p => p == ".."))
            throw new ArgumentException($"'{path}': '..' is not allowed in a path inside the tree");
        return string.Join('/', parts);
    }

    /// <summary>Opens a directory of the tree (symlinks resolved chroot-style), creating missing components (0755, root).</summary>
    public SafeFileHandle OpenDirectory(string path, bool create = false)
    {
        var clean = Normalize(path);
        try
        {
            return Posix.OpenAt2(_root, clean, Posix.O_PATH | Posix.O_DIRECTORY, InRoot);
        }
        catch (IOException e) when (create && Posix.Errno(e) == Posix.ENOENT && clean.Length > 0)
        {
            var (parent, name) = Split(clean);
            using (var p = OpenDirectory(parent, create: true))
            {
                try
                {
                    Posix.MkdirAt(p, name, 0x1ED);
                }
                catch (IOException e2) when (Posix.Errno(e2) == Posix.EEXIST)
                {
                    // A dangling symlink in the way: replace it by a directory (the link pointed nowhere inside the tree).
                    var st = Posix.StatAt(p, name);
                    if (st is not { IsSymlink: true }) throw;
                    Posix.UnlinkAt(p, name);
                    Posix.MkdirAt(p, name, 0x1ED);
                }
            }
            return Posix.OpenAt2(_root, clean, Posix.O_PATH | Posix.O_DIRECTORY, InRoot);
        }
    }

    /// <summary>lstat of an entry (its parent resolved chroot-style, the entry itself not followed); null if absent.</summary>
    public Posix.FileStatus? Lstat(string path)
    {
        if (Normalize(path).Length == 0) return Posix.Stat(_root);
        var (parent, name) = Split(path);
        using var dir = TryOpenDirectory(parent);
        return dir is null ? null : Posix.StatAt(dir, name);
    }

    /// <summary>stat following symlinks chroot-style; null if absent or dangling.</summary>
    public Posix.FileStatus? Stat(string path)
    {
        try
        {
            using var fd = Posix.OpenAt2(_root, Normalize(path), Posix.O_PATH, InRoot);
            return Posix.Stat(fd);
        }
        catch (IOException e) when (Posix.Errno(e) is Posix.ENOENT or Posix.ENOTDIR or Posix.ELOOP)
        {
            return null;
        }
    }

    /// <summary>True when the entry exists (not following a final symlink).</summary>
    public bool Exists(string path) => Lstat(path) is not null;

    /// <summary>Opens a regular file for reading (symlinks followed chroot-style); null if absent or not a file.</summary>
    public FileStream? OpenRead(string path)
    {
        SafeFileHandle fd;
        try
        {
            fd = Posix.OpenAt2(_root, Normalize(path), Posix.O_RDONLY | Posix.O_NOCTTY, InRoot);
        }
        catch (IOException e) when (Posix.Errno(e) is Posix.ENOENT or Posix.ENOTDIR or Posix.ELOOP or Posix.EISDIR)
        {
            return null;
        }
        if (!Posix.Stat(fd).IsRegular)
        {
            fd.Dispose();
            return null;
        }
        return new FileStream(fd, FileAccess.Read, 1 << 16);
    }

    /// <summary>Reads a whole (small) regular file, or null. Refuses files larger than <paramref name="limit"/>.</summary>
    public byte[]? ReadAllBytes(string path, int limit = 16 << 20)
    {
        using var s = OpenRead(path);
        if (s is null) return null;
        if (s.Length > limit) throw new IOException($"{path} is larger than {limit} bytes");
        var buffer = new byte[s.Length];
        s.ReadExactly(buffer);
        return buffer;
    }

    /// <summary>Reads a text file, or null.</summary>
    public string? ReadAllText(string path) =>
        ReadAllBytes(path) is { } b ? System.Text.Encoding.UTF8.GetString(b) : null;

    /// <summary>
    /// Writes a regular file: the content goes to a temporary name in the target directory, then is renamed over the
    /// entry (replacing a file or symlink without following it). Missing parent directories are created.
    /// </summary>
    public void WriteFile(string path, Action<Stream> write, uint mode = 0x1A4, uint uid = 0, uint gid = 0)
    {
        var (parent, name) = Split(path);
        using var dir = OpenDirectory(parent, create: true);
        if (Posix.StatAt(dir, name) is { IsDirectory: true })
            throw new IOException($"cannot write file /{Normalize(path)}: a directory is in the way");
        var temp = $".rootfsforge-{Environment.ProcessId}-{Guid.NewGuid():N}.tmp";
        // O_PATH handles cannot be used as dirfd for file creation in all cases; open the directory for real.
        using var realDir = Posix.OpenAt(dir, ".", Posix.O_RDONLY | Posix.O_DIRECTORY);
        var fd = Posix.OpenAt(realDir, temp, Posix.O_WRONLY | Posix.O_CREAT | Posix.O_EXCL | Posix.O_NOFOLLOW, 0x180);
        try
        {
            using (var stream = new FileStream(fd, FileAccess.Write, 1 << 16))
            {
                write(stream);
                stream.Flush();
                Posix.FChown(fd, uid, gid);
                Posix.FChmod(fd, mode);
            }
            Posix.RenameAt(realDir, temp, realDir, name);
        }
        catch
        {
            try { Posix.UnlinkAt(realDir, temp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Writes text (UTF-8) to a regular file.</summary>
    public void WriteAllText(string path, string text, uint mode = 0x1A4, uint uid = 0, uint gid = 0) =>
        WriteFile(path, s => s.Write(System.Text.Encoding.UTF8.GetBytes(text)), mode, uid, gid);

    /// <summary>Creates a directory (and its parents) if missing, then sets its owner and mode.</summary>
    public void CreateDirectory(string path, uint mode = 0x1ED, uint uid = 0, uint gid = 0)
    {
        using var dir = OpenDirectory(path, create: true);
        using var real = Posix.OpenAt(dir, ".", Posix.O_RDONLY | Posix.O_DIRECTORY);
        Posix.FChown(real, uid, gid);
        Posix.FChmod(real, mode);
    }

    /// <summary>Creates (or replaces a non-directory with) a symlink holding <paramref name="target"/>.</summary>
    public void CreateSymlink(string path, string target)
    {
        var (parent, name) = Split(path);
        using var dir = OpenDirectory(parent, create: true);
        var st = Posix.StatAt(dir, name);
        if (st is { IsDirectory: true }) throw new IOException($"cannot create symlink /{Normalize(path)}: a directory is in the way");
        if (st is not null) Posix.UnlinkAt(dir, name);
        Posix.SymlinkAt(target, dir, name);
    }

    /// <summary>The text of a symlink, or null when the entry is not a symlink.</summary>
    public string? ReadLink(string path)
    {
        var (parent, name) = Split(path);
        using var dir = TryOpenDirectory(parent);
        if (dir is null || Posix.StatAt(dir, name) is not { IsSymlink: true }) return null;
        return Posix.ReadLinkAt(dir, name);
    }

    /// <summary>Renames an entry (neither end followed); the destination's parent must exist.</summary>
    public void Rename(string from, string to)
    {
        var (fp, fn) = Split(from);
        var (tp, tn) = Split(to);
        using var a = OpenDirectory(fp);
        using var b = OpenDirectory(tp);
        Posix.RenameAt(a, fn, b, tn);
    }

    /// <summary>Removes an entry (a directory with everything below it); no-op when absent. Never crosses a mount.</summary>
    public void Delete(string path)
    {
        var (parent, name) = Split(path);
        using var dir = TryOpenDirectory(parent);
        if (dir is null) return;
        DeleteAt(dir, name, 0);
    }

    /// <summary>
    /// Removes everything inside a directory, keeping the directory; no-op when absent or when the entry itself is a
    /// symlink (a hostile <c>/tmp -> /</c> must not empty the tree's root).
    /// </summary>
    public void DeleteContents(string path, Func<string, bool>? keep = null)
    {
        if (Normalize(path).Length > 0 && Lstat(path) is not { IsDirectory: true }) return;
        using var dir = TryOpenDirectory(path);
        if (dir is null) return;
        foreach (var name in List(dir))
            if (keep is null || !keep(name)) DeleteAt(dir, name, 0);
    }

    /// <summary>The names in a directory of the tree (empty when absent).</summary>
    public IReadOnlyList<string> List(string path)
    {
        using var dir = TryOpenDirectory(path);
        return dir is null ? [] : List(dir);
    }

    /// <summary>Changes owner and mode of an entry without following it (mode is not applied to symlinks).</summary>
    public void SetOwnerAndMode(string path, uint? mode, uint uid, uint gid)
    {
        var (parent, name) = Split(path);
        using var dir = OpenDirectory(parent);
        Posix.LChownAt(dir, name, uid, gid);
        if (mode is uint m && Posix.StatAt(dir, name) is { IsSymlink: false })
        {
            using var fd = Posix.OpenAt(dir, name, Posix.O_RDONLY | Posix.O_NOFOLLOW | Posix.O_NOCTTY
                                                  | (Posix.StatAt(dir, name)!.Value.IsDirectory ? Posix.O_DIRECTORY : 0));
            Posix.FChmod(fd, m);
        }
    }

    /// <summary>Opens a directory for a mount point: no symlink anywhere on the way is accepted.</summary>
    public SafeFileHandle OpenMountPoint(string path) =>
        Posix.OpenAt2(_root, Normalize(path), Posix.O_PATH | Posix.O_DIRECTORY | Posix.O_NOFOLLOW,
            InRoot | Posix.RESOLVE_NO_SYMLINKS);

    public void Dispose() => _root.Dispose();

    private SafeFileHandle? TryOpenDirectory(string path)
    {
        try
        {
            return OpenDirectory(path);
        }
        catch (IOException e) when (Posix.Errno(e) is Posix.ENOENT or Posix.ENOTDIR or Posix.ELOOP)
        {
            return null;
        }
    }

    private static IReadOnlyList<string> List(SafeFileHandle dir)
    {
        using var real = Posix.OpenAt(dir, ".", Posix.O_RDONLY | Posix.O_DIRECTORY);
        var prefix = Posix.FdPath(real);
        return Directory.EnumerateFileSystemEntries(prefix).Select(System.IO.Path.GetFileName).OfType<string>().ToList();
    }

    private static void DeleteAt(SafeFileHandle dir, string name, int depth)
    {
        if (depth > MaxDepth) throw new IOException("directory nesting too deep to delete");
        var st = Posix.StatAt(dir, name);
        if (st is null) return;
        if (!st.Value.IsDirectory)
        {
            Posix.UnlinkAt(dir, name);
            return;
        }
        if (st.Value.IsMountRoot) throw new IOException($"refusing to delete {name}: something is mounted on it");
        using (var child = Posix.OpenAt(dir, name, Posix.O_RDONLY | Posix.O_DIRECTORY | Posix.O_NOFOLLOW))
            foreach (var n in List(child))
                DeleteAt(child, n, depth + 1);
        Posix.UnlinkAt(dir, name, directory: true);
    }
}
