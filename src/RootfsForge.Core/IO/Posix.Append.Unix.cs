using Microsoft.Win32.SafeHandles;

namespace RootfsForge.IO;

internal static partial class Posix
{
    public const int O_APPEND = 0x400;

    /// <summary>
    /// Opens (creating it) a file for appending with O_APPEND, so writes from several processes land whole at the end;
    /// .NET's FileMode.Append only seeks to the end once.
    /// </summary>
    public static SafeFileHandle OpenForAppend(string path) =>
        OpenAt(null, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0x1A4);
}
