using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace RootfsForge.IO;

/// <summary>
/// The handle-based half of <see cref="Posix"/>: what the build steps need (openat2, statx, mount, *at on
/// <see cref="SafeHandle"/>s, string names), with errno turned into IOException.
/// </summary>
internal static unsafe partial class Posix
{
    // The constants the handle-based calls add to those in Posix.Unix.cs.
    public const int O_TRUNC = 0x200;

    public const int AT_REMOVEDIR = 0x200;

    // openat2(2) resolve flags.
    public const ulong RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04,
        RESOLVE_BENEATH = 0x08, RESOLVE_IN_ROOT = 0x10;

    public const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_BIND = 0x1000, MS_REC = 0x4000,
        MS_PRIVATE = 1 << 18;

    public const int MNT_DETACH = 2, UMOUNT_NOFOLLOW = 8;

    public const int ENOTEMPTY = 39, EXDEV = 18, EBUSY = 16, ESRCH = 3, EAGAIN = 11;

    private const long SYS_openat2 = 437;
    private const ulong STATX_ATTR_MOUNT_ROOT = 0x2000;

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    /// <summary>The fields of struct statx the steps use.</summary>
    public readonly record struct FileStatus(int Mode, uint Uid, uint Gid, long Size, ulong Inode, uint DevMajor,
        uint DevMinor, uint RdevMajor, uint RdevMinor, bool IsMountRoot)
    {
        public int Type => Mode & (int)S_IFMT;
        public bool IsDirectory => Type == (int)S_IFDIR;
        public bool IsRegular => Type == (int)S_IFREG;
        public bool IsSymlink => Type == (int)S_IFLNK;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, int dirfd, byte* path, OpenHow* how, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int openat(int dirfd, string path, int flags, uint mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mkdirat(int dirfd, string path, uint mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unlinkat(int dirfd, string path, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat(int olddirfd, string oldpath, int newdirfd, string newpath);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int symlinkat(string target, int newdirfd, string linkpath);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint readlinkat(int dirfd, string path, byte* buffer, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int fchownat(int dirfd, string path, uint owner, uint group, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mknodat(int dirfd, string path, uint mode, ulong dev);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mount(string? source, string target, string? fstype, ulong flags, string? data);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int umount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int sys_kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "llistxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint llistxattr(string path, byte* list, nuint size);

    /// <summary>The number of extended attributes of a path (not following a final symlink); 0 on error.</summary>
    public static int ListXattrCount(string path)
    {
        nint size = llistxattr(path, null, 0);
        if (size <= 0) return 0;
        var buf = new byte[size];
        fixed (byte* p = buf)
        {
            size = llistxattr(path, p, (nuint)buf.Length);
        }
        return size <= 0 ? 0 : buf.AsSpan(0, (int)size).Count((byte)0);
    }

    [LibraryImport("libc", EntryPoint = "umask")]
    public static partial uint Umask(uint mask);

    private static IOException Error(string what, string path)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new IOException($"{what} {path}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);
    }

    /// <summary>The errno stored in an exception thrown here.</summary>
    public static int Errno(IOException e) => e.HResult;

    /// <summary>openat2(2): opens <paramref name="path"/> below <paramref name="dirfd"/> with the given resolve flags.</summary>
    public static SafeFileHandle OpenAt2(SafeHandle dirfd, string path, int flags, ulong resolve, uint mode = 0)
    {
        var how = new OpenHow { Flags = (ulong)(flags | O_CLOEXEC), Mode = mode, Resolve = resolve };
        var bytes = System.Text.Encoding.UTF8.GetBytes((path.Length == 0 ? "." : path) + "\0");
        long fd;
        bool added = false;
        try
        {
            dirfd.DangerousAddRef(ref added);
            fixed (byte* p = bytes)
                fd = syscall(SYS_openat2, (int)dirfd.DangerousGetHandle(), p, &how, (nuint)sizeof(OpenHow));
        }
        finally
        {
            if (added) dirfd.DangerousRelease();
        }
        if (fd < 0) throw Error("open", path);
        return new SafeFileHandle((nint)fd, ownsHandle: true);
    }

    /// <summary>openat(2) relative to a directory handle (or AT_FDCWD when null).</summary>
    public static SafeFileHandle OpenAt(SafeHandle? dirfd, string path, int flags, uint mode = 0)
    {
        int fd = WithFd(dirfd, d => openat(d, path, flags | O_CLOEXEC, mode));
        if (fd < 0) throw Error("open", path);
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>statx(2) without following a final symlink; null when the path does not exist.</summary>
    public static FileStatus? StatAt(SafeHandle? dirfd, string path, bool emptyPath = false)
    {
        byte* buf = stackalloc byte[256];
        int flags = AT_SYMLINK_NOFOLLOW | (emptyPath ? AT_EMPTY_PATH : 0);
        int r = WithFd(dirfd, d => statx(d, path, flags, STATX_BASIC_STATS, buf));
        if (r < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is ENOENT or ENOTDIR) return null;
            throw Error("stat", path);
        }
        ulong attributes = *(ulong*)(buf + 8);
        ulong attributesMask = *(ulong*)(buf + 56);
        return new FileStatus(*(ushort*)(buf + 28), *(uint*)(buf + 20), *(uint*)(buf + 24), *(long*)(buf + 40),
            *(ulong*)(buf + 32), *(uint*)(buf + 136), *(uint*)(buf + 140), *(uint*)(buf + 128), *(uint*)(buf + 132),
            (attributesMask & STATX_ATTR_MOUNT_ROOT) != 0 && (attributes & STATX_ATTR_MOUNT_ROOT) != 0);
    }

    /// <summary>statx of an open handle.</summary>
    public static FileStatus Stat(SafeHandle fd) => StatAt(fd, "", emptyPath: true)
                                                      ?? throw new IOException("fstat failed");

    public static void MkdirAt(SafeHandle dirfd, string name, uint mode)
    {
        if (WithFd(dirfd, d => mkdirat(d, name, mode)) < 0) throw Error("mkdir", name);
    }

    public static void UnlinkAt(SafeHandle dirfd, string name, bool directory = false)
    {
        if (WithFd(dirfd, d => unlinkat(d, name, directory ? AT_REMOVEDIR : 0)) < 0) throw Error("unlink", name);
    }

    public static void RenameAt(SafeHandle fromDir, string from, SafeHandle toDir, string to)
    {
        bool a = false, b = false;
        try
        {
            fromDir.DangerousAddRef(ref a);
            toDir.DangerousAddRef(ref b);
            if (renameat((int)fromDir.DangerousGetHandle(), from, (int)toDir.DangerousGetHandle(), to) < 0)
                throw Error("rename", from + " -> " + to);
        }
        finally
        {
            if (a) fromDir.DangerousRelease();
            if (b) toDir.DangerousRelease();
        }
    }

    public static void SymlinkAt(string target, SafeHandle dirfd, string name)
    {
        if (WithFd(dirfd, d => symlinkat(target, d, name)) < 0) throw Error("symlink", name);
    }

    public static string ReadLinkAt(SafeHandle? dirfd, string name)
    {
        var buf = new byte[4096];
        nint n;
        fixed (byte* p = buf)
        {
            byte* q = p;
            n = WithFd(dirfd, d => readlinkat(d, name, q, (nuint)buf.Length));
        }
        if (n < 0) throw Error("readlink", name);
        return System.Text.Encoding.UTF8.GetString(buf, 0, (int)n);
    }

    /// <summary>lchown of a name in a directory (never follows a final symlink).</summary>
    public static void LChownAt(SafeHandle dirfd, string name, uint uid, uint gid)
    {
        if (WithFd(dirfd, d => fchownat(d, name, uid, gid, AT_SYMLINK_NOFOLLOW)) < 0) throw Error("chown", name);
    }

    public static void FChmod(SafeHandle fd, uint mode)
    {
        if (WithFd(fd, d => fchmod(d, mode)) < 0) throw Error("chmod", "fd");
    }

    public static void FChown(SafeHandle fd, uint uid, uint gid)
    {
        if (WithFd(fd, d => fchown(d, uid, gid)) < 0) throw Error("chown", "fd");
    }

    public static void MknodAt(SafeHandle dirfd, string name, uint mode, uint major, uint minor)
    {
        // glibc makedev(): the same encoding the kernel's new_encode_dev expects through the 64-bit dev_t.
        ulong dev = ((ulong)(major & 0xFFFFF000) << 32) | ((ulong)(major & 0xFFF) << 8)
                    | ((ulong)(minor & 0xFFFFFF00) << 12) | (minor & 0xFF);
        if (WithFd(dirfd, d => mknodat(d, name, mode, dev)) < 0) throw Error("mknod", name);
    }

    public static void Mount(string? source, string target, string? fstype, ulong flags, string? data)
    {
        if (mount(source, target, fstype, flags, data) < 0) throw Error($"mount {fstype ?? source} on", target);
    }

    /// <summary>umount2(2); returns the errno (0 on success).</summary>
    public static int Umount(string target, int flags)
    {
        return umount2(target, flags | UMOUNT_NOFOLLOW) < 0 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>kill(2); ignores ESRCH.</summary>
    public static void Kill(int pid, int signal) => sys_kill(pid, signal);

    /// <summary>The /proc/self/fd path of an open handle (mount(2) resolves it to exactly that directory).</summary>
    public static string FdPath(SafeHandle fd) => $"/proc/self/fd/{fd.DangerousGetHandle()}";

    /// <summary>Calls <paramref name="call"/> with the handle's descriptor (AT_FDCWD when null), keeping the handle alive.</summary>
    private static T WithFd<T>(SafeHandle? fd, Func<int, T> call)
    {
        if (fd is null) return call(AT_FDCWD);
        bool added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            return call((int)fd.DangerousGetHandle());
        }
        finally
        {
            if (added) fd.DangerousRelease();
        }
    }
}
