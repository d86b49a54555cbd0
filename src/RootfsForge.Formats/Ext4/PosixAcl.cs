using System.Buffers.Binary;

namespace RootfsForge.Ext4;

/// <summary>POSIX ACL conversion from ext4's on-disk v1 form to the Linux xattr v2 form (docs/disk-formats.md §3.8).</summary>
internal static class PosixAcl
{
    internal const uint DiskVersion = 1;
    internal const uint XattrVersion = 2;
    internal const ushort UserObj = 0x01, User = 0x02, GroupObj = 0x04, Group = 0x08, Mask = 0x10, Other = 0x20;

    /// <summary>Converts; returns null when the value is not a well-formed v1 ACL.</summary>
    internal static byte[]? DiskToXattr(ReadOnlySpan<byte> disk)
    {
        if (disk.Length < 4 || BinaryPrimitives.ReadUInt32LittleEndian(disk) != DiskVersion) return null;
        // Count entries first so the output is allocated once.
        int count = 0;
        for (int p = 4; p < disk.Length; count++)
        {
            if (p + 4 > disk.Length) return null;
            ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(disk[p..]);
            int len = tag is User or Group ? 8 : tag is UserObj or GroupObj or Mask or Other ? 4 : -1;
            if (len < 0 || p + len > disk.Length) return null;
            p += len;
        }
        var result = new byte[4 + count * 8];
        BinaryPrimitives.WriteUInt32LittleEndian(result, XattrVersion);
        int o = 4;
        for (int p = 4; p < disk.Length; o += 8)
        {
            ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(disk[p..]);
            disk.Slice(p, 4).CopyTo(result.AsSpan(o));
            if (tag is User or Group)
            {
                disk.Slice(p + 4, 4).CopyTo(result.AsSpan(o + 4));
                p += 8;
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(o + 4), 0xFFFFFFFF);
                p += 4;
            }
        }
        return result;
    }
}
