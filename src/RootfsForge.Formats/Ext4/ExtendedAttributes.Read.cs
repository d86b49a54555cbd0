using System.Buffers.Binary;

namespace RootfsForge.Ext4;

internal static partial class ExtendedAttributes
{
    /// <summary>
    /// Parses an entry list. <paramref name="region"/> is the whole in-inode area (after the magic) or the whole block;
    /// entries start at <paramref name="entriesStart"/> and value offsets count from <paramref name="valueBase"/>.
    /// </summary>
    internal static void ParseEntries(ReadOnlySpan<byte> region, int entriesStart, int valueBase, List<RawEntry> into,
        string what, long? offset)
    {
        int pos = entriesStart;
        int guard = region.Length / Entry.Name + 1;
        while (guard-- > 0)
        {
            if (pos + 4 > region.Length) return; // in-inode lists may end at the end of the inode
            if (BinaryPrimitives.ReadUInt32LittleEndian(region[pos..]) == 0) return;
            if (pos + Entry.Name > region.Length)
                throw new ImageFormatException($"xattr entry at byte {pos} runs past the end", what, offset);
            var e = region[pos..];
            int nameLen = e[Entry.NameLen];
            byte index = e[Entry.NameIndex];
            int valueOffs = BinaryPrimitives.ReadUInt16LittleEndian(e[Entry.ValueOffs..]);
            uint valueInum = BinaryPrimitives.ReadUInt32LittleEndian(e[Entry.ValueInum..]);
            uint valueSize = BinaryPrimitives.ReadUInt32LittleEndian(e[Entry.ValueSize..]);
            if (pos + Entry.Name + nameLen > region.Length)
                throw new ImageFormatException($"xattr entry name at byte {pos} runs past the end", what, offset);
            byte[] name = e.Slice(Entry.Name, nameLen).ToArray();
            byte[]? value = null;
            if (valueInum == 0)
            {
                long start = (long)valueBase + valueOffs;
                if (valueSize > MaxValueSize || start + valueSize > region.Length)
                    throw new ImageFormatException(
                        $"xattr value of {valueSize} bytes at offset {valueOffs} runs past the end", what, offset);
                value = region.Slice((int)start, (int)valueSize).ToArray();
            }
            into.Add(new RawEntry(index, name, value, valueInum, valueSize));
            pos += (Entry.Name + nameLen + 3) & ~3;
        }
    }

    /// <summary>metadata_csum xattr block checksum: crc32c(seed, le64 block number, block with h_checksum zeroed).</summary>
    internal static (uint Stored, uint Computed) BlockChecksums(uint seed, ulong blockNumber, ReadOnlySpan<byte> block)
    {
        uint crc = Crc32C.Compute(seed, blockNumber);
        crc = Crc32C.Compute(crc, block[..BlockHeader.Checksum]);
        crc = Crc32C.Compute(crc, [0, 0, 0, 0]);
        crc = Crc32C.Compute(crc, block[(BlockHeader.Checksum + 4)..]);
        return (BinaryPrimitives.ReadUInt32LittleEndian(block[BlockHeader.Checksum..]), crc);
    }
}

/// <summary>POSIX ACL conversion from ext4's on-disk v1 form to the Linux xattr v2 form (§3.8).</summary>
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
