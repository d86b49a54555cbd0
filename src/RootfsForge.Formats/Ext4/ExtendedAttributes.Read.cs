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
