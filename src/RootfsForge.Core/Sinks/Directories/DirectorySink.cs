using System.Buffers;
using RootfsForge.IO;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Directories;

/// <summary>
/// Recreates a tree under a target directory: content (holes kept as holes), owners, modes with setuid/setgid/sticky,
/// xattrs (ACLs, <c>security.capability</c>), device nodes, FIFOs, sockets, hard links, symlinks and nanosecond times.
/// </summary>
/// <remarks>
/// <para>Never writes outside the target: every parent is reached through directory descriptors opened with
/// <c>O_NOFOLLOW|O_DIRECTORY</c> from the target's descriptor, every entry is created relative to its parent's descriptor,
/// and metadata calls do not follow symlinks. Paths that are absolute or contain <c>..</c> are refused with
/// <see cref="ImageFormatException"/>, so a symlink <c>etc -&gt; /etc</c> in the tree cannot redirect a later
/// <c>etc/passwd</c>.</para>
/// <para>When the target does not exist it is built under a temporary sibling name and renamed into place by
/// <see cref="Complete"/>; disposing an incomplete sink removes what it wrote. Owners are applied before modes (chown
/// clears setuid bits) and xattrs after both (chown clears <c>security.capability</c>); directory modes, xattrs (default
/// ACLs would otherwise be inherited by the children) and times are applied by <see cref="Complete"/>, deepest first.</para>
/// <para>What the target cannot hold is skipped with a warning in <see cref="SinkStatistics.Warnings"/> instead of failing
/// the whole tree. Symlink targets end at their first NUL, as the kernel reads them; symlinks whose target is then empty
/// (<c>symlink(2)</c> refuses them with ENOENT; corrupt images have them) or longer than the target filesystem allows
/// (ENAMETOOLONG) are skipped, and so are hard links to skipped entries (<see cref="SkippedEntries"/>). Xattrs the target
/// refuses as too large (ENOSPC, E2BIG), unsupported (EOPNOTSUPP), not allowed on that kind of node (EPERM) or, without
/// privileges, not allowed to us (EACCES, EINVAL) are dropped and counted in <see cref="SinkStatistics.DroppedAttributes"/>;
/// the first ten are named, then only counted, except that every dropped <c>security.*</c>, <c>trusted.*</c> and
/// <c>system.*</c> attribute (capabilities, ACLs, labels) is always named. Any other failure (EIO, EACCES or EINVAL when
/// privileged, ENOSPC on a full target, ...) fails the sink.</para>
/// </remarks>
public sealed class DirectorySink : TreeSink
{
    private const int CopyBufferSize = 1 << 20;
    private const int NameMax = 255; // NAME_MAX of Linux

    /// <summary>Dropped xattrs outside the security-relevant namespaces that get a warning of their own.</summary>
    private const int MaxDetailedAttributeWarnings = 10;

    /// <summary>An ENOSPC from setxattr with less free space than this on the target is a full target, not a too-large value.</summary>
    private const long FullTargetFreeBytes = 1 << 20;

    private readonly string _target;
    private readonly string _buildPath;
    private readonly bool _buildingInTemp;
    private readonly bool _replacing;
    private readonly bool _privileged;
    private readonly bool _allowExisting;
    private int _rootFd;
    private readonly List<(string Path, int Fd)> _stack = [];
    private readonly List<TreeEntry> _directories = [];
    private readonly List<byte[]> _createdTopLevel = [];
    private byte[]? _copyBuffer;
    private bool _completed;
    private bool _disposed;
    private long _skippedDevices;
    private long _skippedOwners;
    private long _skippedEntries;
    private long _detailedAttributeWarnings;
    private long _unreportedAttributes;
    private readonly HashSet<string> _skippedPaths = new(StringComparer.Ordinal);

    /// <summary>Prepares writing into <paramref name="target"/>, which must not exist or be an empty directory.</summary>
    /// <exception cref="IOException">The target is not empty (and the options do not allow it) or cannot be created.</exception>
    public DirectorySink(string target, DirectorySinkOptions? options = null)
    {
        options ??= new DirectorySinkOptions();
        _target = Path.GetFullPath(target);
        _privileged = options.Privileged ?? Posix.geteuid() == 0;
        _allowExisting = options.AllowNonEmptyTarget;
        bool exists = Directory.Exists(_target);
        bool isOther = !exists && (File.Exists(_target) || new FileInfo(_target).LinkTarget is not null);
        bool nonEmpty = exists && Directory.EnumerateFileSystemEntries(_target).Any();
        if (exists && (!nonEmpty || _allowExisting))
        {
            _buildPath = _target;
        }
        else
        {
            if ((nonEmpty || isOther) && !options.ReplaceExisting)
            {
                throw new IOException(isOther
                    ? $"output '{_target}' exists and is not a directory"
                    : $"output directory '{_target}' is not empty");
            }
            _replacing = nonEmpty || isOther;
            var parent = Path.GetDirectoryName(_target) ?? throw new IOException($"output '{_target}' has no parent");
            if (!Directory.Exists(parent)) throw new IOException($"parent folder of output '{_target}' does not exist");
            _buildPath = Path.Combine(parent, $".{Path.GetFileName(_target)}.tmp-{Guid.NewGuid():N}"[..^20]);
            MakeDirectory(_buildPath);
            _buildingInTemp = true;
        }
        _rootFd = OpenDirectoryAt(Posix.AT_FDCWD, Posix.CString(_buildPath), _buildPath, follow: true);
        _stack.Add(("", _rootFd));
    }

    /// <summary>Device nodes not created because the sink is not privileged.</summary>
    public long SkippedDevices => _skippedDevices;

    /// <summary>Entries whose owner was not restored because the sink is not privileged.</summary>
    public long SkippedOwners => _skippedOwners;

    /// <summary>
    /// Entries not created because a directory cannot hold them: symlinks with an empty target and hard links to
    /// entries that were not created. Each is named in <see cref="SinkStatistics.Warnings"/>.
    /// </summary>
    public long SkippedEntries => _skippedEntries;

    /// <inheritdoc />
    public override async ValueTask AddAsync(TreeEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ObjectDisposedException.ThrowIf(_completed || _disposed, this);
        cancellationToken.ThrowIfCancellationRequested();
        if (entry.Path.Length == 0)
        {
            if (entry.Type != EntryType.Directory) throw new ImageFormatException("the root entry is not a directory", "tree entry");
            _directories.Add(entry);
            Counters.CountEntry();
            return;
        }
        var (parentPath, name) = Split(entry.Path);
        int parentFd = OpenParent(parentPath, entry.Path);
        if (parentPath.Length == 0) _createdTopLevel.Add(name);
        switch (entry.Type)
        {
            case EntryType.Directory:
                CreateDirectory(parentFd, name, entry);
                break;
            case EntryType.RegularFile:
                await CreateFileAsync(parentFd, name, entry, cancellationToken).ConfigureAwait(false);
                break;
            case EntryType.HardLink:
                if (entry.LinkTarget is not null && _skippedPaths.Contains(entry.LinkTarget))
                {
                    Skip(entry, $"hard link to '{entry.LinkTarget}', which was not created, skipped");
                    return;
                }
                CreateHardLink(parentFd, name, entry);
                break;
            case EntryType.SymbolicLink:
                if (!CreateSymlink(parentFd, name, entry)) return;
                break;
            case EntryType.CharacterDevice:
            case EntryType.BlockDevice:
                if (!_privileged)
                {
                    // Counted and reported in one line by Complete; remembered so hard links to it are skipped too.
                    _skippedDevices++;
                    _skippedPaths.Add(entry.Path);
                    return;
                }
                CreateNode(parentFd, name, entry,
                    (entry.Type == EntryType.CharacterDevice ? Posix.S_IFCHR : Posix.S_IFBLK) | 0x180,
                    LinuxDeviceNumber.Make(entry.DeviceMajor, entry.DeviceMinor));
                break;
            case EntryType.Fifo:
                CreateNode(parentFd, name, entry, Posix.S_IFIFO | 0x180, 0);
                break;
            case EntryType.Socket:
                CreateNode(parentFd, name, entry, Posix.S_IFSOCK | 0x180, 0);
                break;
            default:
                throw new ArgumentException($"unknown entry type {entry.Type} for '{entry.Path}'", nameof(entry));
        }
        Counters.CountEntry();
    }

    /// <inheritdoc />
    public override ValueTask CompleteAsync(CancellationToken cancellationToken = default)
    {
        Complete(cancellationToken);
        return default;
    }

    private void Complete(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed) return;
        CloseStack();
        // Deepest first, so setting a directory's metadata never disturbs an ancestor's already-set times.
        for (int i = _directories.Count - 1; i >= 0; i--)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var entry = _directories[i];
            int fd = entry.Path.Length == 0 ? _rootFd : OpenPathFromRoot(entry.Path);
            try
            {
                ApplyToFd(fd, entry);
            }
            finally
            {
                if (fd != _rootFd) Posix.close(fd);
            }
        }
        CloseRoot();
        if (_buildingInTemp)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string? old = null;
            try
            {
                if (_replacing)
                {
                    // Swap: the old target goes aside first and is removed only once the new tree is in place.
                    old = _buildPath + ".old";
                    if (Directory.Exists(_target)) Directory.Move(_target, old);
                    else File.Move(_target, old);
                }
                Directory.Move(_buildPath, _target);
            }
            catch (IOException e)
            {
                throw new IOException($"cannot move the finished tree to '{_target}': {e.Message}", e);
            }
            if (old is not null) RemoveTree(Posix.AT_FDCWD, Posix.CString(old));
        }
        if (_skippedDevices > 0) Counters.Warn($"{_skippedDevices} device nodes not created (needs root)");
        if (_skippedOwners > 0) Counters.Warn($"owners of {_skippedOwners} entries not restored (needs root)");
        if (_unreportedAttributes > 0)
            Counters.Warn($"{_unreportedAttributes} more xattrs not restored ({Counters.Snapshot().DroppedAttributes} in total)");
        _completed = true;
        ReturnBuffer();
    }

    /// <inheritdoc />
    protected override ValueTask DisposeAsyncCore()
    {
        if (!_disposed)
        {
            _disposed = true;
            if (!_completed)
            {
                CloseStack();
                try
                {
                    if (_buildingInTemp)
                    {
                        CloseRoot();
                        RemoveTree(Posix.AT_FDCWD, Posix.CString(_buildPath));
                    }
                    else
                    {
                        if (!_allowExisting)
                        {
                            if (_rootFd >= 0)
                                foreach (var name in _createdTopLevel) RemoveTree(_rootFd, Posix.CString(name));
                        }
                        CloseRoot();
                    }
                }
                catch (IOException)
                {
                    // Best effort: the original error matters more than a failed cleanup.
                }
            }
            ReturnBuffer();
        }
        return default;
    }

    private void CloseRoot()
    {
        if (_rootFd >= 0) Posix.close(_rootFd);
        _rootFd = -1;
    }

    private void ReturnBuffer()
    {
        if (_copyBuffer is not null) ArrayPool<byte>.Shared.Return(_copyBuffer);
        _copyBuffer = null;
    }

    private unsafe void CreateDirectory(int parentFd, byte[] name, TreeEntry entry)
    {
        fixed (byte* n = Posix.CString(name))
        {
            if (Posix.mkdirat(parentFd, n, 0x1C0) != 0)
            {
                int e = Posix.LastError;
                if (!(e == Posix.EEXIST && _allowExisting)) throw Failure("mkdir", entry.Path, e);
                // Reusing an existing directory: it must really be one, not a symlink.
                Posix.close(OpenDirectoryAt(parentFd, Posix.CString(name), entry.Path, follow: false));
            }
        }
        _directories.Add(entry);
    }

    private static unsafe int CreateNewFile(int parentFd, byte[] name, string path)
    {
        int fd;
        fixed (byte* n = Posix.CString(name))
            fd = Posix.openat(parentFd, n, Posix.O_WRONLY | Posix.O_CREAT | Posix.O_EXCL | Posix.O_NOFOLLOW | Posix.O_CLOEXEC, 0x180);
        if (fd < 0) throw Failure("create", path, Posix.LastError);
        return fd;
    }

    private async ValueTask CreateFileAsync(int parentFd, byte[] name, TreeEntry entry, CancellationToken cancellationToken)
    {
        using var content = entry.OpenContent?.Invoke()
            ?? throw new ArgumentException($"regular file '{entry.Path}' has no content", nameof(entry));
        int fd = CreateNewFile(parentFd, name, entry.Path);
        try
        {
            long length = content.Length;
            var segments = content.GetDataSegments();
            _copyBuffer ??= ArrayPool<byte>.Shared.Rent(CopyBufferSize);
            for (int i = 0; i < segments.Count; i++)
            {
                var s = segments[i];
                if (s.Offset < 0 || s.Length < 0 || s.End > length)
                    throw new ImageFormatException($"data segment [{s.Offset}, +{s.Length}) of '{entry.Path}' is outside its size {length}", "file content");
                content.Prefetch(s.Offset, s.Length);
                long done = 0;
                while (done < s.Length)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int chunk = (int)Math.Min(_copyBuffer.Length, s.Length - done);
                    await content.ReadExactlyAtAsync(s.Offset + done, _copyBuffer.AsMemory(0, chunk), cancellationToken).ConfigureAwait(false);
                    WriteAll(fd, _copyBuffer.AsSpan(0, chunk), s.Offset + done, entry.Path);
                    done += chunk;
                    Counters.CountContentBytes(chunk);
                }
            }
            // Holes are the ranges never written; the size comes from ftruncate.
            if (Posix.ftruncate(fd, length) != 0) throw Failure("ftruncate", entry.Path, Posix.LastError);
            ApplyToFd(fd, entry);
        }
        finally
        {
            Posix.close(fd);
        }
    }

    private static unsafe void WriteAll(int fd, ReadOnlySpan<byte> data, long offset, string path)
    {
        fixed (byte* p = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint n = Posix.pwrite(fd, p + done, (nuint)(data.Length - done), offset + done);
                if (n < 0)
                {
                    int e = Posix.LastError;
                    if (e == Posix.EINTR) continue;
                    throw Failure("write", path, e);
                }
                done += (int)n;
            }
        }
    }

    private unsafe void CreateHardLink(int parentFd, byte[] name, TreeEntry entry)
    {
        var target = entry.LinkTarget;
        if (string.IsNullOrEmpty(target)) throw new ImageFormatException($"hard link '{entry.Path}' has no target", "tree entry");
        var (targetParent, targetName) = Split(target);
        int targetParentFd = targetParent.Length == 0 ? _rootFd : OpenPathFromRoot(targetParent);
        try
        {
            fixed (byte* t = Posix.CString(targetName))
            fixed (byte* n = Posix.CString(name))
            {
                // flags 0: a final symlink is linked itself, never followed.
                if (Posix.linkat(targetParentFd, t, parentFd, n, 0) != 0)
                    throw Failure($"link to '{target}'", entry.Path, Posix.LastError);
            }
        }
        finally
        {
            if (targetParentFd != _rootFd) Posix.close(targetParentFd);
        }
    }

    /// <summary>Creates the symlink, or skips it with a warning when no directory can hold it; false when skipped.</summary>
    private unsafe bool CreateSymlink(int parentFd, byte[] name, TreeEntry entry)
    {
        var target = SymlinkTarget.AsKernelReadsIt(entry.LinkTarget, out bool truncated);
        if (target.Length == 0)
        {
            // symlink(2) refuses an empty target with ENOENT (POSIX leaves it open; Linux never creates one).
            Skip(entry, truncated ? "symlink with empty target (it starts with NUL) skipped" : "symlink with empty target skipped");
            return false;
        }
        fixed (byte* t = Posix.CString(target))
        fixed (byte* n = Posix.CString(name))
        {
            if (Posix.symlinkat(t, parentFd, n) != 0)
            {
                int e = Posix.LastError;
                // The target is longer than PATH_MAX or than the target filesystem allows (ext4: one block); a name
                // longer than NAME_MAX is the tree's fault, not the target's.
                if (e != Posix.ENAMETOOLONG || name.Length > NameMax) throw Failure("symlink", entry.Path, e);
                Skip(entry, $"symlink target of {FileNameEncoding.GetBytes(target).Length} bytes is too long for the target filesystem; skipped");
                return false;
            }
        }
        if (truncated)
            Counters.Warn(SymlinkTarget.TruncatedWarning(entry.Path));
        ApplyAt(parentFd, name, entry, isSymlink: true);
        return true;
    }

    private unsafe void CreateNode(int parentFd, byte[] name, TreeEntry entry, uint mode, ulong dev)
    {
        fixed (byte* n = Posix.CString(name))
        {
            if (Posix.mknodat(parentFd, n, mode, dev) != 0) throw Failure("mknod", entry.Path, Posix.LastError);
        }
        ApplyAt(parentFd, name, entry, isSymlink: false);
    }

    /// <summary>Owner, then mode, then xattrs, then times, on an open file or directory.</summary>
    private unsafe void ApplyToFd(int fd, TreeEntry entry)
    {
        if (_privileged)
        {
            if (Posix.fchown(fd, entry.Uid, entry.Gid) != 0) throw Failure("chown", entry.Path, Posix.LastError);
        }
        else
        {
            _skippedOwners++;
        }
        if (Posix.fchmod(fd, (uint)(entry.Permissions & 0xFFF)) != 0) throw Failure("chmod", entry.Path, Posix.LastError);
        foreach (var x in entry.ExtendedAttributes)
        {
            fixed (byte* k = Posix.CString(x.Name))
            fixed (byte* v = x.Value)
            {
                if (Posix.fsetxattr(fd, k, v, (nuint)x.Value.Length, 0) != 0) XattrFailed(x, entry, Posix.LastError, fd);
            }
        }
        var times = stackalloc Posix.Timespec[2];
        SetTimes(times, entry);
        if (Posix.futimens(fd, times) != 0) throw Failure("utimensat", entry.Path, Posix.LastError);
    }

    /// <summary>The same for an entry that cannot be opened (symlink, device, FIFO, socket), by name in its parent.</summary>
    private unsafe void ApplyAt(int parentFd, byte[] name, TreeEntry entry, bool isSymlink)
    {
        var nameZ = Posix.CString(name);
        fixed (byte* n = nameZ)
        {
            if (_privileged)
            {
                if (Posix.fchownat(parentFd, n, entry.Uid, entry.Gid, Posix.AT_SYMLINK_NOFOLLOW) != 0)
                    throw Failure("chown", entry.Path, Posix.LastError);
            }
            else
            {
                _skippedOwners++;
            }
            // Symlink modes cannot be changed on Linux. Other nodes were just created by us under this name in a
            // descriptor-held directory, so following the final component is not possible.
            if (!isSymlink && Posix.fchmodat(parentFd, n, (uint)(entry.Permissions & 0xFFF), 0) != 0)
                throw Failure("chmod", entry.Path, Posix.LastError);
            if (entry.ExtendedAttributes.Count > 0)
            {
                // lsetxattr through /proc/self/fd/<parent>/<name>: the parent is the descriptor we hold, the final
                // component is not followed.
                fixed (byte* p = Posix.ProcPath(parentFd, name))
                {
                    foreach (var x in entry.ExtendedAttributes)
                    {
                        fixed (byte* k = Posix.CString(x.Name))
                        fixed (byte* v = x.Value)
                        {
                            if (Posix.lsetxattr(p, k, v, (nuint)x.Value.Length, 0) != 0) XattrFailed(x, entry, Posix.LastError, parentFd);
                        }
                    }
                }
            }
            var times = stackalloc Posix.Timespec[2];
            SetTimes(times, entry);
            if (Posix.utimensat(parentFd, n, times, Posix.AT_SYMLINK_NOFOLLOW) != 0)
                throw Failure("utimensat", entry.Path, Posix.LastError);
        }
    }

    private void Skip(TreeEntry entry, string why)
    {
        _skippedEntries++;
        _skippedPaths.Add(entry.Path);
        Counters.Warn($"'{entry.Path}': {why}");
    }

    /// <summary>
    /// Drops an xattr the target cannot hold (counted, with a warning) or throws. <paramref name="fd"/> is a descriptor
    /// on the target filesystem, to tell a full target from a value too large for the inode.
    /// </summary>
    private void XattrFailed(ExtendedAttribute x, TreeEntry entry, int errno, int fd)
    {
        bool droppable = errno switch
        {
            // The target cannot hold it: too large for the inode's xattr space (ENOSPC), above the VFS's 64 KiB limit
            // (E2BIG), namespace or xattrs not supported (EOPNOTSUPP), or not allowed on this kind of node (EPERM:
            // user.* on a symlink or device, trusted.* without CAP_SYS_ADMIN).
            Posix.ENOSPC => !IsTargetFull(fd),
            Posix.E2BIG or Posix.ENOTSUP or Posix.EPERM => true,
            // Without privileges the target's permission checks refuse what root could set.
            Posix.EACCES or Posix.EINVAL => !_privileged,
            _ => false,
        };
        if (!droppable) throw Failure($"setxattr {x.Name}", entry.Path, errno);
        Counters.CountDroppedAttributes(1);
        // Capabilities, ACLs and labels are never dropped without their own warning.
        bool securityRelevant = x.Name.StartsWith("security.", StringComparison.Ordinal)
            || x.Name.StartsWith("trusted.", StringComparison.Ordinal) || x.Name.StartsWith("system.", StringComparison.Ordinal);
        if (!securityRelevant && _detailedAttributeWarnings >= MaxDetailedAttributeWarnings)
        {
            _unreportedAttributes++;
            return;
        }
        if (!securityRelevant) _detailedAttributeWarnings++;
        Counters.Warn(
            $"'{entry.Path}': xattr {x.Name} ({x.Value.Length} bytes) not restored: "
            + $"{System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
    }

    /// <summary>Whether the filesystem of <paramref name="fd"/> has (almost) no space left for us.</summary>
    private static unsafe bool IsTargetFull(int fd)
    {
        Posix.Statvfs st = default;
        if (Posix.fstatvfs(fd, &st) != 0) return true; // cannot tell: do not guess the error away
        ulong blocks = Posix.geteuid() == 0 ? st.FreeBlocks : st.AvailableBlocks;
        return blocks * st.FragmentSize < FullTargetFreeBytes;
    }

    private static unsafe void SetTimes(Posix.Timespec* times, TreeEntry entry)
    {
        times[0] = new Posix.Timespec { Seconds = entry.AccessTime.Seconds, Nanoseconds = entry.AccessTime.Nanoseconds };
        times[1] = new Posix.Timespec { Seconds = entry.ModificationTime.Seconds, Nanoseconds = entry.ModificationTime.Nanoseconds };
    }

    /// <summary>
    /// The descriptor of <paramref name="parentPath"/>, reusing the open ancestors on the stack (entries arrive parents
    /// first, so this opens at most one new directory per entry in walk order).
    /// </summary>
    private int OpenParent(string parentPath, string entryPath)
    {
        while (_stack.Count > 1 && !IsSameOrAncestor(_stack[^1].Path, parentPath))
        {
            Posix.close(_stack[^1].Fd);
            _stack.RemoveAt(_stack.Count - 1);
        }
        var top = _stack[^1];
        if (top.Path.Length == parentPath.Length) return top.Fd;
        int start = top.Path.Length == 0 ? 0 : top.Path.Length + 1;
        while (start < parentPath.Length)
        {
            int slash = parentPath.IndexOf('/', start);
            int end = slash < 0 ? parentPath.Length : slash;
            var component = parentPath[start..end];
            string soFar = parentPath[..end];
            int fd = OpenDirectoryAt(_stack[^1].Fd, Posix.CString(component), soFar, follow: false, entryPath);
            _stack.Add((soFar, fd));
            start = end + 1;
        }
        return _stack[^1].Fd;
    }

    /// <summary>Opens a directory of the tree from the root, one O_NOFOLLOW component at a time.</summary>
    private int OpenPathFromRoot(string path)
    {
        ValidatePath(path);
        int fd = _rootFd;
        int start = 0;
        while (start < path.Length)
        {
            int slash = path.IndexOf('/', start);
            int end = slash < 0 ? path.Length : slash;
            int next;
            try
            {
                next = OpenDirectoryAt(fd, Posix.CString(path[start..end]), path[..end], follow: false, path);
            }
            finally
            {
                if (fd != _rootFd) Posix.close(fd);
            }
            fd = next;
            start = end + 1;
        }
        return fd;
    }

    private static unsafe int OpenDirectoryAt(int dirfd, byte[] nameZ, string pathForErrors, bool follow, string? entryPath = null)
    {
        int flags = Posix.O_RDONLY | Posix.O_DIRECTORY | Posix.O_CLOEXEC | (follow ? 0 : Posix.O_NOFOLLOW);
        int fd;
        fixed (byte* n = nameZ) fd = Posix.openat(dirfd, n, flags, 0);
        if (fd >= 0) return fd;
        int e = Posix.LastError;
        if (e is Posix.ELOOP or Posix.ENOTDIR)
            throw new ImageFormatException(
                $"'{pathForErrors}' is not a directory (a symlink or file) but '{entryPath ?? pathForErrors}' needs it as one",
                "tree entry");
        throw Failure("open directory", pathForErrors, e);
    }

    private void CloseStack()
    {
        for (int i = _stack.Count - 1; i >= 1; i--) Posix.close(_stack[i].Fd);
        if (_stack.Count > 1) _stack.RemoveRange(1, _stack.Count - 1);
    }

    private static bool IsSameOrAncestor(string ancestor, string path) =>
        ancestor.Length == 0 || path == ancestor
        || (path.Length > ancestor.Length && path[ancestor.Length] == '/' && path.StartsWith(ancestor, StringComparison.Ordinal));

    private static (string Parent, byte[] Name) Split(string path)
    {
        ValidatePath(path);
        int slash = path.LastIndexOf('/');
        return slash < 0 ? ("", FileNameEncoding.GetBytes(path)) : (path[..slash], FileNameEncoding.GetBytes(path[(slash + 1)..]));
    }

    /// <summary>Refuses absolute paths, empty, "." and ".." components.</summary>
    internal static void ValidatePath(string path)
    {
        if (path.Length == 0) throw new ImageFormatException("empty path for a non-root entry", "tree entry");
        if (path[0] == '/') throw new ImageFormatException($"path '{path}' is absolute", "tree entry");
        int start = 0;
        while (start <= path.Length)
        {
            int slash = path.IndexOf('/', start);
            int end = slash < 0 ? path.Length : slash;
            var c = path.AsSpan(start, end - start);
            if (c.Length == 0 || c is "." || c is "..")
                throw new ImageFormatException($"path '{path}' has an empty, '.' or '..' component", "tree entry");
            if (c.Contains('\0')) throw new ImageFormatException($"path '{path}' contains NUL", "tree entry");
            if (slash < 0) break;
            start = end + 1;
        }
    }

    private static unsafe void MakeDirectory(string path)
    {
        fixed (byte* p = Posix.CString(path))
        {
            if (Posix.mkdirat(Posix.AT_FDCWD, p, 0x1C0) != 0) throw Failure("mkdir", path, Posix.LastError);
        }
    }

    private static IOException Failure(string what, string path, int errno) => Posix.Error(what, path, errno);

    /// <summary>Removes <paramref name="nameZ"/> under <paramref name="dirfd"/> and everything below it, never following symlinks.</summary>
    internal static unsafe void RemoveTree(int dirfd, byte[] nameZ)
    {
        fixed (byte* n = nameZ)
        {
            if (Posix.unlinkat(dirfd, n, 0) == 0) return;
            int e = Posix.LastError;
            if (e == Posix.ENOENT) return;
            int fd = Posix.openat(dirfd, n, Posix.O_RDONLY | Posix.O_DIRECTORY | Posix.O_NOFOLLOW | Posix.O_CLOEXEC, 0);
            if (fd < 0) throw Posix.Error("remove", FileNameEncoding.GetString(nameZ.AsSpan(0, nameZ.Length - 1)), e);
            try
            {
                Posix.fchmod(fd, 0x1C0);
                foreach (var child in Posix.ReadDirectory(fd, "partial output")) RemoveTree(fd, Posix.CString(child));
            }
            finally
            {
                Posix.close(fd);
            }
            if (Posix.unlinkat(dirfd, n, Posix.AT_REMOVEDIR) != 0)
                throw Posix.Error("rmdir", FileNameEncoding.GetString(nameZ.AsSpan(0, nameZ.Length - 1)), Posix.LastError);
        }
    }
}
