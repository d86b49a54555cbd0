using System.Buffers.Binary;
using RootfsForge.Tree;

namespace RootfsForge.Ext4;

/// <summary>ext4 timestamp decoding (docs/disk-formats.md §3.10).</summary>
internal static class Ext4Time
{
    /// <summary>
    /// <c>seconds = sign_extend_32(base) + ((extra &amp; 3) &lt;&lt; 32)</c>, <c>ns = extra &gt;&gt; 2</c>; the extra field
    /// counts only when the inode's extra area (<paramref name="end"/>) covers it.
    /// </summary>
    internal static UnixTime Decode(ReadOnlySpan<byte> raw, int baseOffset, int extraOffset, int end)
    {
        int seconds = BinaryPrimitives.ReadInt32LittleEndian(raw[baseOffset..]);
        uint extra = extraOffset + 4 <= end ? BinaryPrimitives.ReadUInt32LittleEndian(raw[extraOffset..]) : 0;
        return Decode(seconds, extra);
    }

    internal static UnixTime Decode(int baseSeconds, uint extra)
    {
        long s = baseSeconds + ((long)(extra & 3) << 32);
        uint ns = extra >> 2;
        if (ns > 999_999_999) ns = 999_999_999;
        return new UnixTime(s, ns);
    }
}
