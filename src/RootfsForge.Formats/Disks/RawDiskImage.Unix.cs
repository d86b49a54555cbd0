using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace RootfsForge.Disks;

internal sealed partial class RawDiskImage
{
    // lseek(2) whence values on Linux.
    private const int SeekData = 3;
    private const int SeekHole = 4;
    private const int ENXIO = 6;
    private const int MaxRanges = 1 << 20;

    /// <summary>The data runs of [offset, end) from SEEK_DATA/SEEK_HOLE, or null when the platform cannot tell.</summary>
    private static List<(long Offset, long Length)>? QueryDataRanges(SafeFileHandle handle, long offset, long end)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var ranges = new List<(long, long)>();
        long pos = offset;
        while (pos < end && ranges.Count < MaxRanges)
        {
            long data = lseek(handle, pos, SeekData);
            if (data < 0)
            {
                if (Marshal.GetLastPInvokeError() == ENXIO) break; // no more data after pos
                return null;
            }
            if (data >= end) break;
            long hole = lseek(handle, data, SeekHole);
            if (hole < 0) return null;
            if (hole <= data) hole = end; // defensive: never loop without progress
            long stop = Math.Min(hole, end);
            ranges.Add((data, stop - data));
            pos = stop;
        }
        if (pos < end && ranges.Count >= MaxRanges) ranges.Add((pos, end - pos));
        return ranges;
    }

    // The same interop style as ImageFile.Unix.cs: source-generated, the SafeHandle marshalled (kept alive) by the stub.
    [LibraryImport("libc", SetLastError = true)]
    private static partial long lseek(SafeFileHandle fd, long offset, int whence);
}
