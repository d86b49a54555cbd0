using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;

namespace RootfsForge.IO;

internal static unsafe partial class Posix
{
    public const int O_APPEND = 0x400;

    /// <summary>
    /// Opens (creating it) a file for appending with O_APPEND, so writes from several processes land whole at the end;
    /// .NET's FileMode.Append only seeks to the end once.
    /// </summary>
    [SupportedOSPlatform("linux")]
    public static SafeFileHandle OpenForAppend(string path)
    {
        fixed (byte* p = CString(path))
        {
            int fd = openat(AT_FDCWD, p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0x1A4);
            if (fd < 0) throw Error("open", path, LastError);
            return new SafeFileHandle(fd, ownsHandle: true);
        }
    }
}
