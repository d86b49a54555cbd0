using System.Buffers.Binary;
using System.Numerics;

namespace RootfsForge.Sources.Ext4.Journal;

/// <summary>
/// crc32c in the kernel's raw form (the seed goes in, no final inversion), as JBD2 uses it (disk-formats.md §3.13).
/// </summary>
internal static class Crc32C
{
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (byte b in data) crc = BitOperations.Crc32C(crc, b);
        return crc;
    }

    public static uint AppendZeros(uint crc, int count)
    {
        for (int i = 0; i < count; i++) crc = BitOperations.Crc32C(crc, (byte)0);
        return crc;
    }
}
