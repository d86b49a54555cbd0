using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using RootfsForge.Tree;

namespace RootfsForge.IO;

/// <summary>
/// The Linux system calls RootfsForge makes itself (the directory sink and source, the directory block store, the build
/// steps), in one style: descriptors are <see cref="SafeFileHandle"/>s (a <c>null</c> directory handle means the current
/// directory, <c>AT_FDCWD</c>), names are bytes (<see cref="ReadOnlySpan{T}"/> of <see cref="byte"/>, so names that are
/// not UTF-8 survive; the <see cref="string"/> overloads convert with <see cref="FileNameEncoding"/>), and a failure is
/// an <see cref="IOException"/> made by <see cref="Error"/> with the errno in <see cref="Exception.HResult"/>. Calls whose
/// failure is an expected answer (a file that exists, an attribute that is absent) say so in their names (<c>Try…</c>)
/// or return null. The raw imports are private (Posix.Interop.Unix.cs). Linux only: statx, openat2, getdents64 and
/// the dirent64 layout are Linux's.
/// </summary>
internal static partial class Posix
{
    private const int AT_FDCWD = -100;

    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_REMOVEDIR = 0x200;
    public const int AT_SYMLINK_FOLLOW = 0x400;
    public const int AT_EMPTY_PATH = 0x1000;

    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NOCTTY = 0x100;
    public const int O_NONBLOCK = 0x800;
    public const int O_DIRECTORY = 0x10000;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_CLOEXEC = 0x80000;
    public const int O_PATH = 0x200000;
    public const int O_TMPFILE = 0x400000 | O_DIRECTORY;

    // openat2(2) resolve flags.
    public const ulong RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04,
        RESOLVE_BENEATH = 0x08, RESOLVE_IN_ROOT = 0x10;

    // mount(2) and umount2(2) flags.
    public const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_PRIVATE = 1 << 18;

    public const int MNT_DETACH = 2, UMOUNT_NOFOLLOW = 8;

    public const int SEEK_SET = 0;
    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;

    // errno values (asm-generic/errno-base.h, errno.h).
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EINTR = 4;
    public const int ENXIO = 6;
    public const int E2BIG = 7;
    public const int EACCES = 13;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int ERANGE = 34;
    public const int ENAMETOOLONG = 36;
    public const int ENOSYS = 38;
    public const int ELOOP = 40;
    public const int ENODATA = 61;
    public const int ENOTSUP = 95;
    public const int EOPNOTSUPP = ENOTSUP;

    /// <summary>The one place an errno becomes an exception: "<paramref name="call"/> <paramref name="path"/>: text (errno N)".</summary>
    /// <param name="call">The operation, as users know it ("open", "mkdir", "setxattr user.x").</param>
    /// <param name="path">What it was applied to, as a path for the message.</param>
    /// <param name="errno">The error number; also stored in <see cref="Exception.HResult"/> (see <see cref="Errno"/>).</param>
    public static IOException Error(string call, string path, int errno) =>
        new($"{call} {TreePath.Printable(path)}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);

    /// <summary><see cref="Error"/> for the errno the last import left behind.</summary>
    private static IOException LastError(string call, string path) => Error(call, path, Marshal.GetLastPInvokeError());

    /// <summary>The errno of an exception made by <see cref="Error"/>.</summary>
    public static int Errno(IOException e) => e.HResult;

    /// <summary>The effective user id of the process.</summary>
    public static uint EffectiveUserId => geteuid();

    /// <summary>NUL-terminated name bytes of <paramref name="name"/> (escaped bytes restored, see <see cref="FileNameEncoding"/>).</summary>
    public static byte[] CString(string name) => CString(FileNameEncoding.GetBytes(name));

    /// <summary>A NUL-terminated copy of <paramref name="bytes"/>.</summary>
    public static byte[] CString(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IndexOf((byte)0) >= 0) throw new ArgumentException("a file name cannot contain NUL", nameof(bytes));
        var z = new byte[bytes.Length + 1];
        bytes.CopyTo(z);
        return z;
    }

    /// <summary>
    /// The NUL-terminated path <c>/proc/self/fd/N/name</c> that reaches <paramref name="name"/> inside the directory
    /// <paramref name="directory"/>: for the calls that have no *at form (the l*xattr family). Only the final component is
    /// resolved by name, and the l* calls do not follow it.
    /// </summary>
    private static byte[] ProcPath(SafeHandle directory, ReadOnlySpan<byte> name)
    {
        if (name.IndexOf((byte)0) >= 0 || name.IndexOf((byte)'/') >= 0)
            throw new ArgumentException("not a single file name", nameof(name));
        var prefix = System.Text.Encoding.ASCII.GetBytes($"/proc/self/fd/{directory.DangerousGetHandle()}/");
        var z = new byte[prefix.Length + name.Length + 1];
        prefix.CopyTo(z, 0);
        name.CopyTo(z.AsSpan(prefix.Length));
        return z;
    }

    /// <summary>The /proc/self/fd path of an open handle (mount(2) resolves it to exactly that directory).</summary>
    public static string FdPath(SafeHandle fd) => $"/proc/self/fd/{fd.DangerousGetHandle()}";

    /// <summary>The handle that stands for the current directory (<c>AT_FDCWD</c>) where a directory is optional.</summary>
    private static SafeHandle Directory(SafeHandle? directory) => directory ?? CurrentDirectory;

    private static readonly SafeFileHandle CurrentDirectory = new(AT_FDCWD, ownsHandle: false);

    /// <summary>True when <paramref name="result"/> failed with EINTR and the call should be repeated.</summary>
    private static bool Interrupted(long result) => result < 0 && Marshal.GetLastPInvokeError() == EINTR;
}
