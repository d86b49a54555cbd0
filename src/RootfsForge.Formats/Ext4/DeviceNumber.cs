using System.Buffers.Binary;

namespace RootfsForge.Ext4;

/// <summary>Device number decoding from i_block (docs/disk-formats.md §3.11).</summary>
internal static class DeviceNumber
{
    internal static (uint Major, uint Minor) Decode(ReadOnlySpan<byte> blockArea)
    {
        uint old = BinaryPrimitives.ReadUInt32LittleEndian(blockArea);
        if (old != 0) return Decode(old, 0);
        return Decode(0, BinaryPrimitives.ReadUInt32LittleEndian(blockArea[4..]));
    }

    internal static (uint Major, uint Minor) Decode(uint block0, uint block1)
    {
        if (block0 != 0) return ((block0 >> 8) & 0xFF, block0 & 0xFF);
        uint v = block1;
        return ((v & 0xFFF00) >> 8, (v & 0xFF) | ((v >> 12) & 0xFFF00));
    }
}
