using System.Buffers.Binary;

namespace RootfsForge.Ext4;

/// <summary>
/// An htree (hashed directory) internal block (kernel <c>ext4/directory.rst</c>, "Hash Tree Directories"; offsets per the
/// errata in docs/disk-formats.md §4). The reader scans directories linearly (docs/disk-formats.md §3.7), so these
/// blocks matter only for metadata_csum (crc32c as in docs/disk-formats.md §3.13): they carry a <c>dx_tail</c> instead
/// of the leaf's 12-byte dirent tail. A root made by the kernel from a linear block keeps that block's old dirent tail
/// bytes past its entries, so the leaf test alone misreads it.
/// <list type="bullet">
/// <item><c>dx_root</c> (logical block 0): fake <c>.</c> dirent (rec_len 12), fake <c>..</c> dirent (rec_len = block size − 12),
/// <c>dx_root_info</c> {reserved_zero u32, hash_version u8, info_length u8 = 8, indirect_levels u8, unused_flags u8}, then the
/// count/limit pair at byte 32.</item>
/// <item><c>dx_node</c>: one fake empty dirent {inode 0, rec_len = block size}, then the count/limit pair at byte 8.</item>
/// <item>count/limit {limit u16, count u16} is also the first 8-byte <c>dx_entry</c> {hash u32, block u32} slot; <c>limit</c>
/// slots follow it, then <c>dx_tail</c> {dt_reserved u32, dt_checksum u32}.</item>
/// </list>
/// </summary>
internal static class DxNode
{
    /// <summary>Byte offset of the count/limit pair in a <c>dx_root</c> (after "." 12, ".." 12 and dx_root_info 8).</summary>
    internal const int RootCountLimitOffset = 32;

    /// <summary>Byte offset of the count/limit pair in a <c>dx_node</c> (after its one fake 8-byte dirent).</summary>
    internal const int NodeCountLimitOffset = 8;

    /// <summary>Size of one <c>dx_entry</c> (and of the count/limit slot).</summary>
    internal const int EntrySize = 8;

    /// <summary>Rec_len of the fake "." entry of a <c>dx_root</c>.</summary>
    internal const int DotRecLen = 12;

    /// <summary><c>dx_root_info</c> field offsets (relative to the block) and the expected info_length.</summary>
    internal static class RootInfo
    {
        internal const int ReservedZero = 24;
        internal const int InfoLength = 29;
        internal const byte ExpectedLength = 8;
    }

    /// <summary><c>dx_countlimit</c> field offsets (relative to the pair).</summary>
    internal static class CountLimit
    {
        internal const int Limit = 0;
        internal const int Count = 2;
    }

    /// <summary><c>dx_tail</c> layout.</summary>
    internal static class Tail
    {
        internal const int Size = 8;
        internal const int Reserved = 0;
        internal const int Checksum = 4;
    }

    /// <summary>
    /// Whether logical block <paramref name="logical"/> of an indexed directory is an htree internal block, decided as the
    /// kernel does (fs/ext4/namei.c, reading a directory block): block 0 is the root; any other block whose first dirent
    /// has rec_len equal to the block size is a <c>dx_node</c>.
    /// </summary>
    internal static bool IsIndexBlock(ReadOnlySpan<byte> block, long logical)
    {
        if (logical == 0) return true;
        ushort recLen = BinaryPrimitives.ReadUInt16LittleEndian(block[DirectoryEntry.Field.RecLen..]);
        return DirectoryEntry.DecodeRecLen(recLen, block.Length) == block.Length;
    }

    /// <summary>
    /// The stored and computed <c>dx_tail</c> checksums of one htree internal block, or a problem when the block has no
    /// place for one. The crc32c runs from the inode's seed over the block from its start through the <c>count</c> entries
    /// in use (count/limit slot included), then over <c>dt_reserved</c>, then over four zero bytes standing in for
    /// <c>dt_checksum</c>; the unused slots between <c>count</c> and <c>limit</c> are not covered.
    /// </summary>
    internal static (uint Stored, uint Computed, string? Problem) Checksums(uint inodeSeed, ReadOnlySpan<byte> block)
    {
        int bs = block.Length;
        int countLimit;
        int firstRecLen = DirectoryEntry.DecodeRecLen(BinaryPrimitives.ReadUInt16LittleEndian(block[DirectoryEntry.Field.RecLen..]), bs);
        if (firstRecLen == bs)
        {
            countLimit = NodeCountLimitOffset;
        }
        else if (firstRecLen == DotRecLen)
        {
            int dotDotRecLen = DirectoryEntry.DecodeRecLen(
                BinaryPrimitives.ReadUInt16LittleEndian(block[(DotRecLen + DirectoryEntry.Field.RecLen)..]), bs);
            if (dotDotRecLen != bs - DotRecLen)
                return (0, 0, $"htree root '..' rec_len {dotDotRecLen} is not the block size minus {DotRecLen}");
            if (BinaryPrimitives.ReadUInt32LittleEndian(block[RootInfo.ReservedZero..]) != 0
                || block[RootInfo.InfoLength] != RootInfo.ExpectedLength)
                return (0, 0, "htree root info is malformed (reserved_zero or info_length)");
            countLimit = RootCountLimitOffset;
        }
        else
        {
            return (0, 0, $"first rec_len {firstRecLen} is neither an htree root nor an htree node");
        }

        int limit = BinaryPrimitives.ReadUInt16LittleEndian(block[(countLimit + CountLimit.Limit)..]);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(block[(countLimit + CountLimit.Count)..]);
        int tail = countLimit + limit * EntrySize;
        if (tail > bs - Tail.Size)
            return (0, 0, $"htree limit {limit} leaves no room for the checksum tail");
        if (count > limit)
            return (0, 0, $"htree count {count} exceeds limit {limit}");

        uint crc = Crc32C.Compute(inodeSeed, block[..(countLimit + count * EntrySize)]);
        crc = Crc32C.Compute(crc, block.Slice(tail + Tail.Reserved, 4));
        crc = Crc32C.ComputeZeros(crc, 4);
        return (BinaryPrimitives.ReadUInt32LittleEndian(block[(tail + Tail.Checksum)..]), crc, null);
    }
}
