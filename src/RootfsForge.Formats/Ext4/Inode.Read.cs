using System.Buffers.Binary;
using RootfsForge.Tree;

namespace RootfsForge.Ext4;

internal sealed partial class Inode
{
    /// <summary>Parses an inode record of s_inode_size bytes. Damage in the extra area is reported, not fatal.</summary>
    internal static Inode Read(uint number, ReadOnlySpan<byte> raw, bool hugeFileFeature, int blockSize, long offset)
    {
        int extra = 0;
        if (raw.Length > GoodOldSize)
        {
            extra = BinaryPrimitives.ReadUInt16LittleEndian(raw[Field.ExtraIsize..]);
            if (extra > raw.Length - GoodOldSize || (extra & 3) != 0)
                throw new ImageFormatException($"i_extra_isize {extra} does not fit the {raw.Length}-byte inode",
                    $"ext4 inode {number}", offset);
        }
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(raw[Field.Flags..]);
        ulong blocks = BinaryPrimitives.ReadUInt32LittleEndian(raw[Field.BlocksLo..]);
        if (hugeFileFeature)
        {
            blocks |= (ulong)BinaryPrimitives.ReadUInt16LittleEndian(raw[Field.BlocksHi..]) << 32;
            if ((flags & Flag.HugeFile) != 0) blocks *= (ulong)(blockSize / 512);
        }
        int end = GoodOldSize + extra;
        return new Inode
        {
            Number = number,
            Offset = offset,
            Raw = raw.ToArray(),
            Mode = BinaryPrimitives.ReadUInt16LittleEndian(raw[Field.Mode..]),
            Uid = BinaryPrimitives.ReadUInt16LittleEndian(raw[Field.UidLo..]) | (uint)BinaryPrimitives.ReadUInt16LittleEndian(raw[Field.UidHi..]) << 16,
            Gid = BinaryPrimitives.ReadUInt16LittleEndian(raw[Field.GidLo..]) | (uint)BinaryPrimitives.ReadUInt16LittleEndian(raw[Field.GidHi..]) << 16,
            Size = BinaryPrimitives.ReadUInt32LittleEndian(raw[Field.SizeLo..]) | (ulong)BinaryPrimitives.ReadUInt32LittleEndian(raw[Field.SizeHigh..]) << 32,
            LinksCount = BinaryPrimitives.ReadUInt16LittleEndian(raw[Field.LinksCount..]),
            Blocks512 = blocks,
            Flags = flags,
            Generation = BinaryPrimitives.ReadUInt32LittleEndian(raw[Field.Generation..]),
            FileAcl = BinaryPrimitives.ReadUInt32LittleEndian(raw[Field.FileAclLo..]) | (ulong)BinaryPrimitives.ReadUInt16LittleEndian(raw[Field.FileAclHi..]) << 32,
            ExtraIsize = extra,
            Atime = Ext4Time.Decode(raw, Field.Atime, Field.AtimeExtra, end),
            Ctime = Ext4Time.Decode(raw, Field.Ctime, Field.CtimeExtra, end),
            Mtime = Ext4Time.Decode(raw, Field.Mtime, Field.MtimeExtra, end),
        };
    }

    /// <summary>
    /// metadata_csum inode checksum (docs/disk-formats.md §3.13): crc32c over (seed, inode number, generation, the
    /// record with both checksum fields zeroed); the low 16 bits live at 0x7C and, when the extra area covers it, the
    /// high 16 bits at 0x82. Returns (stored, computed), both masked to what is stored.
    /// </summary>
    internal static (uint Stored, uint Computed) Checksums(uint seed, uint number, ReadOnlySpan<byte> raw)
    {
        uint gen = BinaryPrimitives.ReadUInt32LittleEndian(raw[Field.Generation..]);
        uint crc = Crc32C.Compute(Crc32C.Compute(seed, number), gen);
        bool hasHi = raw.Length > GoodOldSize && BinaryPrimitives.ReadUInt16LittleEndian(raw[Field.ExtraIsize..]) >= 4;
        crc = Crc32C.Compute(crc, raw[..Field.ChecksumLo]);
        crc = Crc32C.Compute(crc, [0, 0]);
        if (raw.Length > GoodOldSize)
        {
            crc = Crc32C.Compute(crc, raw[(Field.ChecksumLo + 2)..Field.ChecksumHi]);
            if (hasHi) crc = Crc32C.Compute(crc, [0, 0]);
            else crc = Crc32C.Compute(crc, raw.Slice(Field.ChecksumHi, 2));
            crc = Crc32C.Compute(crc, raw[(Field.ChecksumHi + 2)..]);
        }
        else
        {
            crc = Crc32C.Compute(crc, raw[(Field.ChecksumLo + 2)..]);
        }
        uint stored = BinaryPrimitives.ReadUInt16LittleEndian(raw[Field.ChecksumLo..]);
        if (hasHi) stored |= (uint)BinaryPrimitives.ReadUInt16LittleEndian(raw[Field.ChecksumHi..]) << 16;
        else crc &= 0xFFFF;
        return (stored, crc);
    }
}
