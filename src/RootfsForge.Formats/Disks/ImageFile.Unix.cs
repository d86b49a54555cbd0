using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;
using RootfsForge.Tree;

namespace RootfsForge.Disks;

/// <remarks>
/// Hand-written P/Invokes because .NET has no equivalent: File.OpenHandle cannot open without blocking (O_NONBLOCK), a
/// handle's file type is not exposed (File.GetUnixFileMode gives the permission bits only), RandomAccess.GetLength reports
/// 0 for a block device, and there is no realpath(3).
/// </remarks>
internal static unsafe partial class ImageFile
{
    // open(2), fcntl(2), lseek(2) and statx(2) values; the same on every Linux architecture .NET runs on.
    private const int O_RDONLY = 0, O_NOCTTY = 0x100, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    private const int F_GETFL = 3, F_SETFL = 4;
    private const int SEEK_END = 2;
    private const int AT_EMPTY_PATH = 0x1000;
    private const uint STATX_TYPE = 0x1, STATX_SIZE = 0x200;
    private const int StatxBufferSize = 256; // sizeof(struct statx)
    private const int StatxMode = 28;        // u16 stx_mode
    private const int StatxSize = 40;        // u64 stx_size
    private const int ENOENT = 2, ENOTDIR = 20, EACCES = 13, EPERM = 1, EINTR = 4;

    [SupportedOSPlatform("linux")]
    private static SafeFileHandle OpenUnix(string path, string structure, out long length)
    {
        // O_NONBLOCK: opening a FIFO for reading without it waits for a writer; it is cleared again below.
        int fd;
        do fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        while (fd < 0 && Marshal.GetLastPInvokeError() == EINTR);
        if (fd < 0) throw OpenError(path, Marshal.GetLastPInvokeError());
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            byte* buffer = stackalloc byte[StatxBufferSize];
            if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_SIZE, buffer) != 0)
                throw new IOException($"statx {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            int type = *(ushort*)(buffer + StatxMode) & FileTypeBits.Mask;
            switch (type)
            {
                case FileTypeBits.Regular:
                    length = *(long*)(buffer + StatxSize);
                    break;
                case FileTypeBits.Block:
                    length = lseek(fd, 0, SEEK_END); // st_size is 0 for a block device
                    if (length < 0) throw new IOException($"cannot size block device {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
                    break;
                default:
                    throw NotAnImage(path, structure, type switch
                    {
                        FileTypeBits.Directory => "a directory",
                        FileTypeBits.Fifo => "a FIFO (named pipe)",
                        FileTypeBits.Character => "a character device",
                        FileTypeBits.Socket => "a socket",
                        _ => $"of file type 0{type >> 12:o}",
                    });
            }
            int flags = fcntl(fd, F_GETFL, 0);
            if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
                throw new IOException($"fcntl {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    [SupportedOSPlatform("linux")]
    private static string RealPathUnix(string path)
    {
        nint resolved = realpath(path, 0);
        if (resolved == 0) throw OpenError(path, Marshal.GetLastPInvokeError());
        try
        {
            return Marshal.PtrToStringUTF8(resolved)!;
        }
        finally
        {
            NativeMemory.Free((void*)resolved); // malloc'd by realpath(3)
        }
    }

    private static Exception OpenError(string path, int errno) => errno switch
    {
        ENOENT or ENOTDIR => new FileNotFoundException($"'{path}' does not exist", path),
        EACCES or EPERM => new UnauthorizedAccessException($"'{path}': {Marshal.GetPInvokeErrorMessage(errno)}"),
        _ => new IOException($"'{path}': {Marshal.GetPInvokeErrorMessage(errno)}", errno),
    };

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int command, int argument);

    [LibraryImport("libc", SetLastError = true)]
    private static partial long lseek(int fd, long offset, int whence);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint realpath(string path, nint resolved);
}
