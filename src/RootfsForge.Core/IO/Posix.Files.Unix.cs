using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using RootfsForge.Tree;

namespace RootfsForge.IO;

/// <summary>Opening, creating, linking, removing, reading and writing files relative to directory handles.</summary>
internal static unsafe partial class Posix
{
    /// <summary>What statx(2) says about a file (the fields RootfsForge uses).</summary>
    public readonly record struct FileStatus(int Mode, uint Uid, uint Gid, long Size, ulong Inode, uint DevMajor,
        uint DevMinor, uint RdevMajor, uint RdevMinor, bool IsMountRoot)
    {
        /// <summary>The link count (st_nlink).</summary>
        public uint LinkCount { get; init; }

        /// <summary>Last access.</summary>
        public UnixTime AccessTime { get; init; }

        /// <summary>Last modification.</summary>
        public UnixTime ModificationTime { get; init; }

        /// <summary>Last status change.</summary>
        public UnixTime ChangeTime { get; init; }

        /// <summary>The file-type bits (<see cref="FileTypeBits"/>).</summary>
        public int Type => Mode & FileTypeBits.Mask;

        public bool IsDirectory => Type == FileTypeBits.Directory;
        public bool IsRegular => Type == FileTypeBits.Regular;
        public bool IsSymlink => Type == FileTypeBits.Symlink;
    }

    /// <summary>openat(2) of <paramref name="name"/> in <paramref name="directory"/> (the current directory when null); O_CLOEXEC is added.</summary>
    public static SafeFileHandle OpenAt(SafeHandle? directory, ReadOnlySpan<byte> name, int flags, uint mode = 0)
    {
        var z = CString(name);
        SafeFileHandle fd;
        fixed (byte* p = z)
        {
            do fd = openat(Directory(directory), p, flags | O_CLOEXEC, mode);
            while (fd.IsInvalid && Marshal.GetLastPInvokeError() == EINTR);
        }
        if (fd.IsInvalid) throw LastError("open", FileNameEncoding.GetString(name));
        return fd;
    }

    /// <inheritdoc cref="OpenAt(SafeHandle?, ReadOnlySpan{byte}, int, uint)"/>
    public static SafeFileHandle OpenAt(SafeHandle? directory, string name, int flags, uint mode = 0) =>
        OpenAt(directory, FileNameEncoding.GetBytes(name), flags, mode);

    /// <summary>
    /// openat2(2): opens <paramref name="path"/> below <paramref name="directory"/> with the <c>RESOLVE_*</c> flags
    /// <paramref name="resolve"/> ("" is the directory itself); O_CLOEXEC is added.
    /// </summary>
    public static SafeFileHandle OpenAt2(SafeHandle directory, string path, int flags, ulong resolve, uint mode = 0)
    {
        var how = new OpenHow { Flags = (ulong)(flags | O_CLOEXEC), Mode = mode, Resolve = resolve };
        var z = CString(path.Length == 0 ? "." : path);
        long fd;
        fixed (byte* p = z)
        {
            do fd = syscall_openat2(SYS_openat2, directory, p, &how, (nuint)sizeof(OpenHow));
            while (Interrupted(fd));
        }
        if (fd < 0) throw LastError("open", path);
        return new SafeFileHandle((nint)fd, ownsHandle: true);
    }

    /// <summary>
    /// statx(2) of <paramref name="name"/> in <paramref name="directory"/>, not following a final symlink; null when it
    /// does not exist (an empty name names nothing, as for statx without AT_EMPTY_PATH; <see cref="Stat"/> takes a handle).
    /// </summary>
    public static FileStatus? StatAt(SafeHandle? directory, ReadOnlySpan<byte> name)
    {
        if (name.IsEmpty) return null;
        return StatCore(Directory(directory), CString(name), AT_SYMLINK_NOFOLLOW, FileNameEncoding.GetString(name));
    }

    /// <inheritdoc cref="StatAt(SafeHandle?, ReadOnlySpan{byte})"/>
    public static FileStatus? StatAt(SafeHandle? directory, string name) => StatAt(directory, FileNameEncoding.GetBytes(name));

    /// <summary>statx(2) of an open handle.</summary>
    public static FileStatus Stat(SafeHandle fd) =>
        StatCore(fd, [0], AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH, $"descriptor {fd.DangerousGetHandle()}")
        ?? throw Error("stat", $"descriptor {fd.DangerousGetHandle()}", ENOENT);

    private static FileStatus? StatCore(SafeHandle directory, byte[] nameZ, int flags, string pathForErrors)
    {
        Statx st;
        fixed (byte* p = nameZ)
        {
            if (statx(directory, p, flags, STATX_BASIC_STATS, &st) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno is ENOENT or ENOTDIR) return null;
                throw Error("stat", pathForErrors, errno);
            }
        }
        return new FileStatus(st.Mode, st.Uid, st.Gid, (long)st.Size, st.Inode, st.DevMajor, st.DevMinor, st.RdevMajor,
            st.RdevMinor, (st.AttributesMask & STATX_ATTR_MOUNT_ROOT) != 0 && (st.Attributes & STATX_ATTR_MOUNT_ROOT) != 0)
        {
            LinkCount = st.LinkCount,
            AccessTime = new UnixTime(st.AccessTime.Seconds, st.AccessTime.Nanoseconds),
            ModificationTime = new UnixTime(st.ModificationTime.Seconds, st.ModificationTime.Nanoseconds),
            ChangeTime = new UnixTime(st.ChangeTime.Seconds, st.ChangeTime.Nanoseconds),
        };
    }

    /// <summary>mkdirat(2).</summary>
    public static void MkdirAt(SafeHandle? directory, ReadOnlySpan<byte> name, uint mode)
    {
        fixed (byte* p = CString(name))
        {
            if (mkdirat(Directory(directory), p, mode) != 0) throw LastError("mkdir", FileNameEncoding.GetString(name));
        }
    }

    /// <inheritdoc cref="MkdirAt(SafeHandle?, ReadOnlySpan{byte}, uint)"/>
    public static void MkdirAt(SafeHandle? directory, string name, uint mode) => MkdirAt(directory, FileNameEncoding.GetBytes(name), mode);

    /// <summary>mknodat(2) of a device, FIFO or socket node (<paramref name="mode"/> holds the type bits).</summary>
    public static void MknodAt(SafeHandle directory, ReadOnlySpan<byte> name, uint mode, uint major, uint minor)
    {
        fixed (byte* p = CString(name))
        {
            if (mknodat(directory, p, mode, LinuxDeviceNumber.Make(major, minor)) != 0)
                throw LastError("mknod", FileNameEncoding.GetString(name));
        }
    }

    /// <inheritdoc cref="MknodAt(SafeHandle, ReadOnlySpan{byte}, uint, uint, uint)"/>
    public static void MknodAt(SafeHandle directory, string name, uint mode, uint major, uint minor) =>
        MknodAt(directory, FileNameEncoding.GetBytes(name), mode, major, minor);

    /// <summary>symlinkat(2): <paramref name="name"/> in <paramref name="directory"/> pointing at <paramref name="target"/>.</summary>
    public static void SymlinkAt(ReadOnlySpan<byte> target, SafeHandle directory, ReadOnlySpan<byte> name)
    {
        fixed (byte* t = CString(target))
        fixed (byte* p = CString(name))
        {
            if (symlinkat(t, directory, p) != 0) throw LastError("symlink", FileNameEncoding.GetString(name));
        }
    }

    /// <inheritdoc cref="SymlinkAt(ReadOnlySpan{byte}, SafeHandle, ReadOnlySpan{byte})"/>
    public static void SymlinkAt(string target, SafeHandle directory, string name) =>
        SymlinkAt(FileNameEncoding.GetBytes(target), directory, FileNameEncoding.GetBytes(name));

    /// <summary>readlinkat(2): the target's bytes, however long.</summary>
    public static byte[] ReadLinkBytesAt(SafeHandle? directory, ReadOnlySpan<byte> name)
    {
        var z = CString(name);
        for (int size = 4096; ; size *= 4)
        {
            var buffer = new byte[size];
            nint n;
            fixed (byte* p = z)
            fixed (byte* b = buffer)
                n = readlinkat(Directory(directory), p, b, (nuint)buffer.Length);
            if (n < 0) throw LastError("readlink", FileNameEncoding.GetString(name));
            if (n < buffer.Length) return buffer.AsSpan(0, (int)n).ToArray();
            // The kernel caps targets at PATH_MAX (4096) on every filesystem it mounts; this only guards the loop.
            if (size >= 1 << 20) throw Error("readlink", FileNameEncoding.GetString(name), ENAMETOOLONG);
        }
    }

    /// <summary>readlinkat(2): the target as a string (bytes that are not UTF-8 escaped, see <see cref="FileNameEncoding"/>).</summary>
    public static string ReadLinkAt(SafeHandle? directory, string name) =>
        FileNameEncoding.GetString(ReadLinkBytesAt(directory, FileNameEncoding.GetBytes(name)));

    /// <summary>linkat(2) without following a final symlink of the existing name; 0 or the errno.</summary>
    public static int TryLinkAt(SafeHandle? fromDirectory, ReadOnlySpan<byte> from, SafeHandle? toDirectory, ReadOnlySpan<byte> to,
        int flags = 0)
    {
        fixed (byte* f = CString(from))
        fixed (byte* t = CString(to))
            return linkat(Directory(fromDirectory), f, Directory(toDirectory), t, flags) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>linkat(2) without following a final symlink of the existing name.</summary>
    public static void LinkAt(SafeHandle fromDirectory, ReadOnlySpan<byte> from, SafeHandle toDirectory, ReadOnlySpan<byte> to,
        string pathForErrors)
    {
        int errno = TryLinkAt(fromDirectory, from, toDirectory, to);
        if (errno != 0) throw Error("link", pathForErrors, errno);
    }

    /// <summary>unlinkat(2); <paramref name="directory"/> = true removes an empty directory (AT_REMOVEDIR).</summary>
    public static void UnlinkAt(SafeHandle? parent, ReadOnlySpan<byte> name, bool directory = false)
    {
        fixed (byte* p = CString(name))
        {
            if (unlinkat(Directory(parent), p, directory ? AT_REMOVEDIR : 0) != 0)
                throw LastError(directory ? "rmdir" : "unlink", FileNameEncoding.GetString(name));
        }
    }

    /// <inheritdoc cref="UnlinkAt(SafeHandle?, ReadOnlySpan{byte}, bool)"/>
    public static void UnlinkAt(SafeHandle? parent, string name, bool directory = false) =>
        UnlinkAt(parent, FileNameEncoding.GetBytes(name), directory);

    /// <summary>renameat(2).</summary>
    public static void RenameAt(SafeHandle? fromDirectory, ReadOnlySpan<byte> from, SafeHandle? toDirectory, ReadOnlySpan<byte> to)
    {
        fixed (byte* f = CString(from))
        fixed (byte* t = CString(to))
        {
            if (renameat(Directory(fromDirectory), f, Directory(toDirectory), t) != 0)
                throw LastError("rename", FileNameEncoding.GetString(from) + " -> " + FileNameEncoding.GetString(to));
        }
    }

    /// <inheritdoc cref="RenameAt(SafeHandle?, ReadOnlySpan{byte}, SafeHandle?, ReadOnlySpan{byte})"/>
    public static void RenameAt(SafeHandle? fromDirectory, string from, SafeHandle? toDirectory, string to) =>
        RenameAt(fromDirectory, FileNameEncoding.GetBytes(from), toDirectory, FileNameEncoding.GetBytes(to));

    /// <summary>fchown(2).</summary>
    public static void FChown(SafeHandle fd, uint uid, uint gid, string pathForErrors = "descriptor")
    {
        if (fchown(fd, uid, gid) != 0) throw LastError("chown", pathForErrors);
    }

    /// <summary>lchown of a name in a directory (fchownat with AT_SYMLINK_NOFOLLOW: never follows a final symlink).</summary>
    public static void LChownAt(SafeHandle directory, ReadOnlySpan<byte> name, uint uid, uint gid, string? pathForErrors = null)
    {
        fixed (byte* p = CString(name))
        {
            if (fchownat(directory, p, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
                throw LastError("chown", pathForErrors ?? FileNameEncoding.GetString(name));
        }
    }

    /// <inheritdoc cref="LChownAt(SafeHandle, ReadOnlySpan{byte}, uint, uint, string?)"/>
    public static void LChownAt(SafeHandle directory, string name, uint uid, uint gid) =>
        LChownAt(directory, FileNameEncoding.GetBytes(name), uid, gid);

    /// <summary>fchmod(2).</summary>
    public static void FChmod(SafeHandle fd, uint mode, string pathForErrors = "descriptor")
    {
        if (fchmod(fd, mode) != 0) throw LastError("chmod", pathForErrors);
    }

    /// <summary>
    /// fchmodat(2) of a name in a directory. Linux cannot change a symlink's mode, so it follows a final symlink: call it
    /// only for a node the caller has just created under this name (a device, FIFO or socket).
    /// </summary>
    public static void ChmodAt(SafeHandle directory, ReadOnlySpan<byte> name, uint mode, string pathForErrors)
    {
        fixed (byte* p = CString(name))
        {
            if (fchmodat(directory, p, mode, 0) != 0) throw LastError("chmod", pathForErrors);
        }
    }

    /// <summary>futimens(2): sets access and modification times of an open file.</summary>
    public static void SetTimes(SafeHandle fd, UnixTime accessTime, UnixTime modificationTime, string pathForErrors)
    {
        var times = stackalloc Timespec[2];
        times[0] = new Timespec { Seconds = accessTime.Seconds, Nanoseconds = accessTime.Nanoseconds };
        times[1] = new Timespec { Seconds = modificationTime.Seconds, Nanoseconds = modificationTime.Nanoseconds };
        if (futimens(fd, times) != 0) throw LastError("utimensat", pathForErrors);
    }

    /// <summary>utimensat(2) with AT_SYMLINK_NOFOLLOW: sets the times of a name in a directory (a symlink's own).</summary>
    public static void SetTimesAt(SafeHandle directory, ReadOnlySpan<byte> name, UnixTime accessTime, UnixTime modificationTime,
        string pathForErrors)
    {
        var times = stackalloc Timespec[2];
        times[0] = new Timespec { Seconds = accessTime.Seconds, Nanoseconds = accessTime.Nanoseconds };
        times[1] = new Timespec { Seconds = modificationTime.Seconds, Nanoseconds = modificationTime.Nanoseconds };
        fixed (byte* p = CString(name))
        {
            if (utimensat(directory, p, times, AT_SYMLINK_NOFOLLOW) != 0) throw LastError("utimensat", pathForErrors);
        }
    }

    /// <summary>lseek(2); -1 with <paramref name="errno"/> set on failure (SEEK_DATA past the last data gives ENXIO).</summary>
    public static long Seek(SafeHandle fd, long offset, int whence, out int errno)
    {
        long r = lseek(fd, offset, whence);
        errno = r < 0 ? Marshal.GetLastPInvokeError() : 0;
        return r;
    }

    /// <summary>pread(2) once (fewer bytes than asked at the end of the file; 0 at or past it), repeated on EINTR.</summary>
    public static int ReadAt(SafeHandle fd, Span<byte> destination, long offset, string pathForErrors)
    {
        nint n;
        fixed (byte* p = destination)
        {
            do n = pread(fd, p, (nuint)destination.Length, offset);
            while (Interrupted(n));
        }
        if (n < 0) throw LastError("read", pathForErrors);
        return (int)n;
    }

    /// <summary>pwrite(2) of all of <paramref name="data"/> at <paramref name="offset"/>.</summary>
    public static void WriteAt(SafeHandle fd, ReadOnlySpan<byte> data, long offset, string pathForErrors)
    {
        fixed (byte* p = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint n = pwrite(fd, p + done, (nuint)(data.Length - done), offset + done);
                if (Interrupted(n)) continue;
                if (n < 0) throw LastError("write", pathForErrors);
                if (n == 0) throw Error("write", pathForErrors, ENOSPC);
                done += (int)n;
            }
        }
    }

    /// <summary>ftruncate(2).</summary>
    public static void Truncate(SafeHandle fd, long length, string pathForErrors)
    {
        int r;
        do r = ftruncate(fd, length);
        while (Interrupted(r));
        if (r != 0) throw LastError("ftruncate", pathForErrors);
    }

    /// <summary>fsync(2).</summary>
    public static void Fsync(SafeHandle fd, string pathForErrors)
    {
        if (fsync(fd) != 0) throw LastError("fsync", pathForErrors);
    }

    /// <summary>
    /// The bytes free on the filesystem of <paramref name="fd"/> (fstatvfs(2)): for root the free blocks, for others
    /// the blocks available to unprivileged users; null when the filesystem cannot say.
    /// </summary>
    public static ulong? FreeBytes(SafeHandle fd)
    {
        Statvfs st;
        if (fstatvfs(fd, &st) != 0) return null;
        return (geteuid() == 0 ? st.FreeBlocks : st.AvailableBlocks) * st.FragmentSize;
    }
}
