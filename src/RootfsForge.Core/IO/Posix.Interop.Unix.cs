using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace RootfsForge.IO;

/// <summary>The raw libc imports behind <see cref="Posix"/> and the kernel structures they fill; private to it.</summary>
internal static unsafe partial class Posix
{
    private const string Libc = "libc";

    [LibraryImport(Libc, SetLastError = true)]
    private static partial SafeFileHandle openat(SafeHandle dirfd, byte* path, int flags, uint mode);

    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall_openat2(long number, SafeHandle dirfd, byte* path, OpenHow* how, nuint size);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int statx(SafeHandle dirfd, byte* path, int flags, uint mask, Statx* buffer);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int mkdirat(SafeHandle dirfd, byte* path, uint mode);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int mknodat(SafeHandle dirfd, byte* path, uint mode, ulong dev);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int symlinkat(byte* target, SafeHandle newdirfd, byte* linkpath);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int linkat(SafeHandle olddirfd, byte* oldpath, SafeHandle newdirfd, byte* newpath, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int unlinkat(SafeHandle dirfd, byte* path, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int renameat(SafeHandle olddirfd, byte* oldpath, SafeHandle newdirfd, byte* newpath);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial nint readlinkat(SafeHandle dirfd, byte* path, byte* buffer, nuint size);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int fchownat(SafeHandle dirfd, byte* path, uint uid, uint gid, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int fchown(SafeHandle fd, uint uid, uint gid);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int fchmodat(SafeHandle dirfd, byte* path, uint mode, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int fchmod(SafeHandle fd, uint mode);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int utimensat(SafeHandle dirfd, byte* path, Timespec* times, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int futimens(SafeHandle fd, Timespec* times);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial long lseek(SafeHandle fd, long offset, int whence);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial nint pread(SafeHandle fd, byte* buffer, nuint count, long offset);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial nint pwrite(SafeHandle fd, byte* buffer, nuint count, long offset);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int ftruncate(SafeHandle fd, long length);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int fsync(SafeHandle fd);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int fstatvfs(SafeHandle fd, Statvfs* buffer);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial nint getdents64(SafeHandle fd, byte* buffer, nuint size);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial nint flistxattr(SafeHandle fd, byte* list, nuint size);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial nint llistxattr(byte* path, byte* list, nuint size);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial nint fgetxattr(SafeHandle fd, byte* name, byte* value, nuint size);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial nint lgetxattr(byte* path, byte* name, byte* value, nuint size);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int fsetxattr(SafeHandle fd, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int lsetxattr(byte* path, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int mount(byte* source, byte* target, byte* fstype, ulong flags, byte* data);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int umount2(byte* target, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int kill(int pid, int signal);

    [LibraryImport(Libc)]
    private static partial uint geteuid();

    /// <summary>The openat2 system call number (the same on x86-64 and arm64: it is past the unified table split).</summary>
    private const long SYS_openat2 = 437;

    /// <summary>STATX_BASIC_STATS: type, mode, nlink, uid, gid, atime, mtime, ctime, ino, size, blocks.</summary>
    private const uint STATX_BASIC_STATS = 0x7FF;

    /// <summary>STATX_ATTR_MOUNT_ROOT (in stx_attributes, valid when set in stx_attributes_mask).</summary>
    private const ulong STATX_ATTR_MOUNT_ROOT = 0x2000;

    /// <summary>struct open_how of openat2(2).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    /// <summary>struct timespec (64-bit Linux).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    /// <summary>struct statx_timestamp.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct StatxTimestamp
    {
        public long Seconds;
        public uint Nanoseconds;
        private int _reserved;
    }

    /// <summary>struct statx (include/uapi/linux/stat.h): the same layout on every Linux architecture.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 256)]
    private struct Statx
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

    /// <summary>struct statvfs of glibc on 64-bit Linux (every field before the spare words is 8 bytes).</summary>
    [StructLayout(LayoutKind.Sequential, Size = 112)]
    private struct Statvfs
    {
        public ulong BlockSize;
        public ulong FragmentSize;
        public ulong Blocks;
        public ulong FreeBlocks;
        public ulong AvailableBlocks;
    }
}
