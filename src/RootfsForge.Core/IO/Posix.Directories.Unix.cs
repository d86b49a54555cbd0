using System.Buffers;
using System.Runtime.InteropServices;

namespace RootfsForge.IO;

/// <summary>Listing a directory with getdents64(2) on its handle (no <c>DIR*</c>, so no second handle type).</summary>
internal static unsafe partial class Posix
{
    // struct linux_dirent64 (include/linux/dirent.h): d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name[] (NUL-terminated).
    private const int DirentRecordLengthOffset = 16;
    private const int DirentNameOffset = 19;

    private const int DirentBufferSize = 32 * 1024;

    /// <summary>
    /// The names in the directory open as <paramref name="directory"/> (O_RDONLY, not O_PATH), without "." and "..", in
    /// the order the filesystem returns them. Rewinds the handle first, so it may be listed again; the handle stays open.
    /// </summary>
    public static List<byte[]> ReadDirectory(SafeHandle directory, string pathForErrors)
    {
        if (lseek(directory, 0, SEEK_SET) < 0) throw LastError("rewind directory", pathForErrors);
        var names = new List<byte[]>();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(DirentBufferSize);
        try
        {
            while (true)
            {
                nint n;
                fixed (byte* b = buffer)
                {
                    do n = getdents64(directory, b, (nuint)buffer.Length);
                    while (Interrupted(n));
                }
                if (n < 0) throw LastError("read directory", pathForErrors);
                if (n == 0) return names;
                var records = buffer.AsSpan(0, (int)n);
                while (!records.IsEmpty)
                {
                    int length = MemoryMarshal.Read<ushort>(records[DirentRecordLengthOffset..]);
                    if (length <= DirentNameOffset || length > records.Length)
                        throw Error("read directory", pathForErrors, EINVAL); // the kernel wrote this; never expected
                    var name = records[DirentNameOffset..length];
                    int nul = name.IndexOf((byte)0);
                    if (nul >= 0) name = name[..nul];
                    if (!name.SequenceEqual("."u8) && !name.SequenceEqual(".."u8)) names.Add(name.ToArray());
                    records = records[length..];
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
