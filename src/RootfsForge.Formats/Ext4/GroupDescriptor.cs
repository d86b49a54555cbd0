using System.Buffers.Binary;

namespace RootfsForge.Ext4;

/// <summary>One block group descriptor (docs/disk-formats.md §3.3): where the group's inode table is.</summary>
internal readonly struct GroupDescriptor
{
    internal const int Size32 = 32;

    /// <summary>Field offsets (kernel <c>struct ext4_group_desc</c>).</summary>
    internal static class Field
    {
        internal const int InodeTableLo = 0x08;
        internal const int Flags = 0x12;
        internal const int Checksum = 0x1E;
        internal const int InodeTableHi = 0x28;
    }

    internal const ushort InodeUninit = 0x1;

    public ulong InodeTable { get; init; }
    public ushort Flags { get; init; }

    internal static GroupDescriptor Read(ReadOnlySpan<byte> d, bool is64)
    {
        ulong table = BinaryPrimitives.ReadUInt32LittleEndian(d[Field.InodeTableLo..]);
        if (is64 && d.Length >= 64) table |= (ulong)BinaryPrimitives.ReadUInt32LittleEndian(d[Field.InodeTableHi..]) << 32;
        return new GroupDescriptor { InodeTable = table, Flags = BinaryPrimitives.ReadUInt16LittleEndian(d[Field.Flags..]) };
    }

    /// <summary>metadata_csum descriptor checksum: low 16 bits of crc32c(seed, group, desc with checksum zeroed).</summary>
    internal static ushort ComputeChecksum(uint seed, uint group, ReadOnlySpan<byte> d)
    {
        uint crc = Crc32C.Compute(seed, group);
        crc = Crc32C.Compute(crc, d[..Field.Checksum]);
        crc = Crc32C.Compute(crc, [0, 0]);
        crc = Crc32C.Compute(crc, d[(Field.Checksum + 2)..]);
        return (ushort)crc;
    }

    internal static ushort StoredChecksum(ReadOnlySpan<byte> d) => BinaryPrimitives.ReadUInt16LittleEndian(d[Field.Checksum..]);
}
