using Microsoft.Win32.SafeHandles;
using RootfsForge.IO;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Directories;

/// <summary>
/// Creates one node of a <see cref="DirectorySink"/>'s tree in its parent directory (given as a handle, so nothing is
/// resolved by path) and applies its metadata in the one order that keeps it: owner first (chown clears setuid/setgid),
/// then mode, then xattrs (chown clears <c>security.capability</c>), then times (every change before moves ctime and
/// mtime). Nodes are created with owner-only permissions and get their real mode only at that step.
/// </summary>
internal sealed class DirectoryNodeWriter(SinkCounters counters, bool privileged, XattrDropPolicy xattrs)
{
    private const int NameMax = 255; // NAME_MAX of Linux

    private long _skippedOwners;

    /// <summary>Entries whose owner was not restored because the sink is not privileged.</summary>
    public long SkippedOwners => _skippedOwners;

    /// <summary>
    /// Creates the directory (0700 until <see cref="ApplyTo"/> runs at completion, so its children can be written).
    /// With <paramref name="mayExist"/> an existing directory is reused, after checking it is one and not a symlink.
    /// </summary>
    public void CreateDirectory(SafeFileHandle parent, byte[] name, TreeEntry entry, bool mayExist)
    {
        try
        {
            Posix.MkdirAt(parent, name, 0x1C0);
        }
        catch (IOException e) when (mayExist && Posix.Errno(e) == Posix.EEXIST)
        {
            try
            {
                Posix.OpenAt(parent, name, Posix.O_RDONLY | Posix.O_DIRECTORY | Posix.O_NOFOLLOW).Dispose();
            }
            catch (IOException e2) when (Posix.Errno(e2) is Posix.ELOOP or Posix.ENOTDIR)
            {
                throw NotADirectory(entry.Path, entry.Path, e2);
            }
        }
        catch (IOException e)
        {
            throw Posix.Error("mkdir", entry.Path, Posix.Errno(e));
        }
    }

    /// <summary>Creates a regular file from its content: data segments written, holes left unwritten, the size set by ftruncate.</summary>
    public async ValueTask CreateFileAsync(SafeFileHandle parent, byte[] name, TreeEntry entry, byte[] buffer,
        CancellationToken cancellationToken)
    {
        using var content = entry.OpenContent?.Invoke()
            ?? throw new ArgumentException($"regular file '{entry.Path}' has no content", nameof(entry));
        SafeFileHandle file;
        try
        {
            file = Posix.OpenAt(parent, name, Posix.O_WRONLY | Posix.O_CREAT | Posix.O_EXCL | Posix.O_NOFOLLOW, 0x180);
        }
        catch (IOException e)
        {
            throw Posix.Error("create", entry.Path, Posix.Errno(e));
        }
        using (file)
        {
            long length = content.Length;
            var segments = content.GetDataSegments();
            for (int i = 0; i < segments.Count; i++)
            {
                var s = segments[i];
                if (s.Offset < 0 || s.Length < 0 || s.End > length)
                    throw new ImageFormatException($"data segment [{s.Offset}, +{s.Length}) of '{TreePath.Printable(entry.Path)}' is outside its size {length}",
                        "file content", kind: ImageErrorKind.Corrupt);
                content.Prefetch(s.Offset, s.Length);
                for (long done = 0; done < s.Length;)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int chunk = (int)Math.Min(buffer.Length, s.Length - done);
                    await content.ReadExactlyAtAsync(s.Offset + done, buffer.AsMemory(0, chunk), cancellationToken).ConfigureAwait(false);
                    Posix.WriteAt(file, buffer.AsSpan(0, chunk), s.Offset + done, entry.Path);
                    done += chunk;
                    counters.CountContentBytes(chunk);
                }
            }
            // Holes are the ranges never written; the size comes from ftruncate.
            Posix.Truncate(file, length, entry.Path);
            ApplyTo(file, entry);
        }
    }

    /// <summary>Links <paramref name="name"/> to the existing <paramref name="targetName"/> (a final symlink is linked itself, never followed).</summary>
    public static void CreateHardLink(SafeFileHandle targetParent, byte[] targetName, SafeFileHandle parent, byte[] name, TreeEntry entry) =>
        Posix.LinkAt(targetParent, targetName, parent, name, $"{entry.Path} (to {entry.LinkTarget})");

    /// <summary>
    /// Creates the symlink, or says why no directory can hold it: an empty target (symlink(2) refuses it with ENOENT;
    /// corrupt images have them) or one longer than the target filesystem allows (ENAMETOOLONG). The target ends at its
    /// first NUL, as the kernel reads it.
    /// </summary>
    /// <returns>Null when created; else the reason it was skipped.</returns>
    public string? CreateSymlink(SafeFileHandle parent, byte[] name, TreeEntry entry)
    {
        var target = SymlinkTarget.AsKernelReadsIt(entry.LinkTarget, out bool truncated);
        if (target.Length == 0)
            return truncated ? "symlink with empty target (it starts with NUL) skipped" : "symlink with empty target skipped";
        var targetBytes = FileNameEncoding.GetBytes(target);
        try
        {
            Posix.SymlinkAt(targetBytes, parent, name);
        }
        catch (IOException e)
        {
            // The target is longer than PATH_MAX or than the target filesystem allows (ext4: one block); a name
            // longer than NAME_MAX is the tree's fault, not the target's.
            if (Posix.Errno(e) != Posix.ENAMETOOLONG || name.Length > NameMax) throw Posix.Error("symlink", entry.Path, Posix.Errno(e));
            return $"symlink target of {targetBytes.Length} bytes is too long for the target filesystem; skipped";
        }
        if (truncated) counters.Warn(SymlinkTarget.TruncatedWarning(entry.Path));
        ApplyAt(parent, name, entry, isSymlink: true);
        return null;
    }

    /// <summary>Creates a device node, FIFO or socket (type bits in <paramref name="type"/>).</summary>
    public void CreateNode(SafeFileHandle parent, byte[] name, TreeEntry entry, int type)
    {
        try
        {
            Posix.MknodAt(parent, name, (uint)type | 0x180, entry.DeviceMajor, entry.DeviceMinor);
        }
        catch (IOException e)
        {
            throw Posix.Error("mknod", entry.Path, Posix.Errno(e));
        }
        ApplyAt(parent, name, entry, isSymlink: false);
    }

    /// <summary>Owner, then mode, then xattrs, then times, on an open file or directory.</summary>
    public void ApplyTo(SafeFileHandle handle, TreeEntry entry)
    {
        if (privileged) Posix.FChown(handle, entry.Uid, entry.Gid, entry.Path);
        else _skippedOwners++;
        Posix.FChmod(handle, (uint)(entry.Permissions & 0xFFF), entry.Path);
        if (entry.ExtendedAttributes.Count > 0)
        {
            var target = Posix.XattrTarget.OfHandle(handle, entry.Path);
            foreach (var x in entry.ExtendedAttributes)
            {
                int errno = Posix.TrySetXattr(target, x.Name, x.Value);
                if (errno != 0) xattrs.Refused(x, entry, errno, handle);
            }
        }
        Posix.SetTimes(handle, entry.AccessTime, entry.ModificationTime, entry.Path);
    }

    /// <summary>The same for a node that cannot be opened (symlink, device, FIFO, socket), by name in its parent.</summary>
    private void ApplyAt(SafeFileHandle parent, byte[] name, TreeEntry entry, bool isSymlink)
    {
        if (privileged) Posix.LChownAt(parent, name, entry.Uid, entry.Gid, entry.Path);
        else _skippedOwners++;
        // Symlink modes cannot be changed on Linux. Other nodes were just created by us under this name in a
        // handle-held directory, so following the final component is not possible.
        if (!isSymlink) Posix.ChmodAt(parent, name, (uint)(entry.Permissions & 0xFFF), entry.Path);
        if (entry.ExtendedAttributes.Count > 0)
        {
            var target = Posix.XattrTarget.InDirectory(parent, name, entry.Path);
            foreach (var x in entry.ExtendedAttributes)
            {
                int errno = Posix.TrySetXattr(target, x.Name, x.Value);
                if (errno != 0) xattrs.Refused(x, entry, errno, parent);
            }
        }
        Posix.SetTimesAt(parent, name, entry.AccessTime, entry.ModificationTime, entry.Path);
    }

    /// <summary>The error for a path whose component <paramref name="component"/> is a symlink or not a directory.</summary>
    public static ImageFormatException NotADirectory(string component, string entryPath, IOException inner) =>
        new($"'{TreePath.Printable(component)}' is not a directory (a symlink or file) but '{TreePath.Printable(entryPath)}' needs it as one",
            "tree entry", inner: inner, kind: ImageErrorKind.InvalidName);
}
