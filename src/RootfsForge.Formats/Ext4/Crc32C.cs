using System.Buffers.Binary;
using System.Numerics;

namespace RootfsForge.Ext4;

/// <summary>
/// CRC-32C in the kernel's "raw" convention used by ext4 metadata_csum (docs/disk-formats.md §3.13): the caller passes
/// the running value in, nothing is inverted on the way out.
/// </summary>
internal static class Crc32C
{
    internal static uint Compute(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (byte b in data) crc = BitOperations.Crc32C(crc, b);
        return crc;
    }

    internal static uint Compute(uint crc, uint littleEndianValue) => BitOperations.Crc32C(crc, littleEndianValue);

    internal static uint Compute(uint crc, ulong littleEndianValue) => BitOperations.Crc32C(crc, littleEndianValue);

    /// <summary>Feeds <paramref name="count"/> zero bytes (a checksum field counted as zero).</summary>
    internal static uint ComputeZeros(uint crc, int count)
    {
        for (; count >= 8; count -= 8) crc = BitOperations.Crc32C(crc, 0UL);
        for (; count > 0; count--) crc = BitOperations.Crc32C(crc, (byte)0);
        return crc;
    }
}
