using System.Buffers.Binary;

namespace RootfsForge.Ext4;

/// <summary>
/// A directory entry (docs/disk-formats.md §3.7): <c>inode u32, rec_len u16, name_len u8, file_type u8, name</c>.
/// </summary>
internal readonly partial record struct DirectoryEntry(uint Inode, byte[] Name, byte FileType)
{
    internal const int HeaderSize = 8;
    internal const int MaxNameLength = 255;

    /// <summary>Field offsets.</summary>
    internal static class Field
    {
        internal const int Inode = 0;
        internal const int RecLen = 4;
        internal const int NameLen = 6;
        internal const int FileType = 7;
        internal const int Name = 8;
    }

    /// <summary>The metadata_csum leaf tail: a fake 12-byte entry with file_type 0xDE and the crc32c at offset 8.</summary>
    internal static class Tail
    {
        internal const int Size = 12;
        internal const byte FileType = 0xDE;
        internal const int Checksum = 8;
    }

    /// <summary>
    /// Decodes rec_len. With 64 KiB blocks the 16-bit field cannot hold 65536: 0 or 65535 mean the whole block and the low
    /// two bits carry bits 16–17 (docs/disk-formats.md §3.7).
    /// </summary>
    internal static int DecodeRecLen(ushort len, int blockSize)
    {
        if (blockSize < 65536) return len;
        if (len == 0 || len == 65535) return blockSize;
        return (len & 65532) | ((len & 3) << 16);
    }

    /// <summary>True when the block ends with a metadata_csum tail entry.</summary>
    internal static bool HasTail(ReadOnlySpan<byte> block)
    {
        if (block.Length < Tail.Size) return false;
        var t = block[^Tail.Size..];
        return BinaryPrimitives.ReadUInt32LittleEndian(t) == 0
            && BinaryPrimitives.ReadUInt16LittleEndian(t[Field.RecLen..]) == Tail.Size
            && t[Field.NameLen] == 0 && t[Field.FileType] == Tail.FileType;
    }
}
