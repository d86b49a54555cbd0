using System.Runtime.InteropServices;

namespace RootfsForge.IO;

/// <summary>
/// The libc calls the directory sink and source need, with file names as NUL-terminated byte strings so that names which
/// are not UTF-8 survive. Linux only (statx and the dirent64 layout are Linux's).
/// </summary>
internal static unsafe partial class Posix
{
    private const string Libc = "libc";

    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_SYMLINK_FOLLOW = 0x400;
    public const int AT_EMPTY_PATH = 0x1000;
    public const int AT_STATX_DONT_SYNC = 0x4000;

    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NOCTTY = 0x100;
    public const int O_NONBLOCK = 0x800;
    public const int O_DIRECTORY = 0x10000;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_CLOEXEC = 0x80000;
    public const int O_PATH = 0x200000;
    public const int O_TMPFILE = 0x400000 | O_DIRECTORY;

    public const int SEEK_SET = 0;
    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;

    public const int EINTR = 4;
    public const int ENOENT = 2;
    public const int EEXIST = 17;
    public const int EPERM = 1;
    public const int EACCES = 13;
    public const int ENXIO = 6;
    public const int ERANGE = 34;
    public const int ENODATA = 61;
    public const int ENOTSUP = 95;
    public const int EOPNOTSUPP = ENOTSUP;
    public const int EISDIR = 21;
    public const int ELOOP = 40;
    public const int ENOTDIR = 20;
    public const int EINVAL = 22;
    public const int E2BIG = 7;
    public const int ENOSPC = 28;
    public const int ENAMETOOLONG = 36;

    public const uint S_IFMT = 0xF000;
    public const uint S_IFSOCK = 0xC000;
    public const uint S_IFLNK = 0xA000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFCHR = 0x2000;
    public const uint S_IFIFO = 0x1000;

    public const long UTIME_OMIT = (1L << 30) - 2;

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int openat(int dirfd, byte* path, int flags, uint mode);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int dup(int fd);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int mkdirat(int dirfd, byte* path, uint mode);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int mknodat(int dirfd, byte* path, uint mode, ulong dev);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int symlinkat(byte* target, int newdirfd, byte* linkpath);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int linkat(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int unlinkat(int dirfd, byte* path, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int renameat(int olddirfd, byte* oldpath, int newdirfd, byte* newpath);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int fchownat(int dirfd, byte* path, uint uid, uint gid, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int fchown(int fd, uint uid, uint gid);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int fchmodat(int dirfd, byte* path, uint mode, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int fchmod(int fd, uint mode);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int utimensat(int dirfd, byte* path, Timespec* times, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int futimens(int fd, Timespec* times);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int fsetxattr(int fd, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int lsetxattr(byte* path, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint llistxattr(byte* path, byte* list, nuint size);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint lgetxattr(byte* path, byte* name, byte* value, nuint size);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint readlinkat(int dirfd, byte* path, byte* buf, nuint size);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int statx(int dirfd, byte* path, int flags, uint mask, Statx* buf);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial long lseek(int fd, long offset, int whence);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint pwrite(int fd, byte* buf, nuint count, long offset);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint pread(int fd, byte* buf, nuint count, long offset);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int ftruncate(int fd, long length);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int fsync(int fd);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint fdopendir(int fd);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint readdir(nint dir);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int closedir(nint dir);

    [LibraryImport(Libc)]
    public static partial uint geteuid();

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int fstatvfs(int fd, Statvfs* buf);

    /// <summary>struct statvfs of glibc on 64-bit Linux (every field before the spare words is 8 bytes).</summary>
    [StructLayout(LayoutKind.Sequential, Size = 112)]
    public struct Statvfs
    {
        public ulong BlockSize;
        public ulong FragmentSize;
        public ulong Blocks;
        public ulong FreeBlocks;
        public ulong AvailableBlocks;
    }

    /// <summary>struct timespec (64-bit Linux).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    /// <summary>struct statx_timestamp.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct StatxTimestamp
    {
        public long Seconds;
        public uint Nanoseconds;
        private int _reserved;
    }

    /// <summary>struct statx (include/uapi/linux/stat.h); the same layout on every Linux architecture.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 256)]
    public struct Statx
    {
        public uint Mask;
        public uint BlockSize;
        public ulong Attributes;
        public uint LinkCount;
        public uint Uid;
        public uint Gid;
        public ushort Mode;
        private ushort _spare0;
        public ulong Inode;
        public ulong Size;
        public ulong Blocks;
        public ulong AttributesMask;
        public StatxTimestamp AccessTime;
        public StatxTimestamp BirthTime;
        public StatxTimestamp ChangeTime;
        public StatxTimestamp ModificationTime;
        public uint RdevMajor;
        public uint RdevMinor;
        public uint DevMajor;
        public uint DevMinor;
    }

    /// <summary>STATX_BASIC_STATS.</summary>
    public const uint STATX_BASIC_STATS = 0x7FF;

    /// <summary>The errno of the last failed call.</summary>
    public static int LastError => Marshal.GetLastPInvokeError();

    /// <summary>An <see cref="IOException"/> naming the call, the path and the errno text.</summary>
    public static IOException Error(string call, string path, int errno) =>
        new($"{call} {path}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})") { HResult = errno };

    /// <summary>NUL-terminated bytes of a (possibly escaped) name.</summary>
    public static byte[] CString(string name)
    {
        var bytes = Tree.FileNameEncoding.GetBytes(name);
        var z = new byte[bytes.Length + 1];
        bytes.CopyTo(z, 0);
        return z;
    }

    /// <summary>NUL-terminated copy of raw bytes.</summary>
    public static byte[] CString(ReadOnlySpan<byte> bytes)
    {
        var z = new byte[bytes.Length + 1];
        bytes.CopyTo(z);
        return z;
    }

    /// <summary>The "/proc/self/fd/N/name" path that reaches <paramref name="name"/> in the directory open as <paramref name="dirfd"/>.</summary>
    public static byte[] ProcPath(int dirfd, ReadOnlySpan<byte> name)
    {
        var prefix = System.Text.Encoding.ASCII.GetBytes($"/proc/self/fd/{dirfd}/");
        var z = new byte[prefix.Length + name.Length + 1];
        prefix.CopyTo(z, 0);
        name.CopyTo(z.AsSpan(prefix.Length));
        return z;
    }

    /// <summary>Lists the names in an open directory (without "." and ".."); the fd stays open.</summary>
    public static List<byte[]> ReadDirectory(int dirfd, string pathForErrors)
    {
        int copy = dup(dirfd);
        if (copy < 0) throw Error("dup", pathForErrors, LastError);
        // fdopendir shares the file offset with dirfd's duplicate: rewind so every listing starts at the beginning.
        lseek(copy, 0, SEEK_SET);
        nint dir = fdopendir(copy);
        if (dir == 0)
        {
            int e = LastError;
            close(copy);
            throw Error("fdopendir", pathForErrors, e);
        }
        var names = new List<byte[]>();
        try
        {
            while (true)
            {
                Marshal.SetLastPInvokeError(0);
                nint ent = readdir(dir);
                if (ent == 0)
                {
                    int e = LastError;
                    if (e != 0) throw Error("readdir", pathForErrors, e);
                    break;
                }
                // struct dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name[] at offset 19.
                byte* name = (byte*)ent + 19;
                var span = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(name);
                if (span.SequenceEqual("."u8) || span.SequenceEqual(".."u8)) continue;
                names.Add(span.ToArray());
            }
        }
        finally
        {
            closedir(dir);
        }
        return names;
    }
}
