using Microsoft.Win32.SafeHandles;

namespace RootfsForge.Disks;

/// <summary>
/// Opens the files a disk image is read from (the image, its backing files, an external data file). An open must never
/// block and a read must never wait on another process, so only regular files and block devices are accepted: a FIFO
/// would block the open until a writer appears and then every read (docs/disk-formats.md §1.7).
/// </summary>
internal static partial class ImageFile
{
    /// <summary>
    /// Opens <paramref name="path"/> for positional reads and returns its length (a block device's size, not the 0 that
    /// <see cref="RandomAccess.GetLength"/> reports for one).
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="structure">What the file is, for the error (e.g. <c>qcow2 backing file</c>).</param>
    /// <param name="length">The number of readable bytes.</param>
    /// <exception cref="ImageFormatException">Kind <see cref="ImageErrorKind.NotAnImage"/>: not a regular file or block device.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static SafeFileHandle Open(string path, string structure, out long length)
    {
        if (OperatingSystem.IsLinux()) return OpenUnix(path, structure, out length);
        // Elsewhere there are no FIFOs to meet in the file system; a directory fails to open.
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        length = RandomAccess.GetLength(handle);
        return handle;
    }

    /// <summary>
    /// <paramref name="path"/> made absolute with every symbolic link resolved (realpath(3)): what the bounds on backing
    /// files are checked against.
    /// </summary>
    /// <exception cref="FileNotFoundException">A component does not exist.</exception>
    public static string RealPath(string path)
    {
        if (OperatingSystem.IsLinux()) return RealPathUnix(path);
        string full = Path.GetFullPath(path);
        if (!Path.Exists(full)) throw new FileNotFoundException($"'{path}' does not exist", path);
        return File.ResolveLinkTarget(full, returnFinalTarget: true)?.FullName ?? full;
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="folder"/> or lies below it (both real paths).</summary>
    public static bool IsInside(string path, string folder)
    {
        if (folder == "/") return path.StartsWith('/');
        string prefix = folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar;
        return path == folder || path.StartsWith(prefix, StringComparison.Ordinal);
    }

    private static ImageFormatException NotAnImage(string path, string structure, string what) =>
        new($"'{path}' is {what}, not a regular file or block device", structure, null, kind: ImageErrorKind.NotAnImage)
            { ImagePath = path };
}
