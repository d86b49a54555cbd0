using System.Buffers.Binary;

namespace RootfsForge.Flist;

/// <summary>
/// A 32-byte hash (a block's key or id) as a dictionary key: four 64-bit words, so lookups on the per-block hot paths make
/// no strings.
/// </summary>
internal readonly record struct HashKey(ulong A, ulong B, ulong C, ulong D)
{
    public static HashKey From(ReadOnlySpan<byte> hash) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(hash), BinaryPrimitives.ReadUInt64LittleEndian(hash[8..]),
        BinaryPrimitives.ReadUInt64LittleEndian(hash[16..]), BinaryPrimitives.ReadUInt64LittleEndian(hash[24..]));
}
