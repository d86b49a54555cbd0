using System.Buffers.Binary;

namespace RootfsForge.Ext4;

internal readonly partial record struct DirectoryEntry
{
    /// <summary>
    /// Parses one directory block (or inline dirent area) with the rec_len hardening of docs/disk-formats.md §3.7,
    /// adding live entries to
    /// <paramref name="into"/>. Returns a problem description when parsing stopped early, else null.
    /// </summary>
    internal static string? ParseBlock(ReadOnlySpan<byte> block, int blockSize, bool fileType, List<DirectoryEntry> into, int maxEntries)
    {
        int pos = 0;
        while (pos + DirectoryEntry.HeaderSize <= block.Length)
        {
            var e = block[pos..];
            uint inode = BinaryPrimitives.ReadUInt32LittleEndian(e);
            int recLen = DirectoryEntry.DecodeRecLen(BinaryPrimitives.ReadUInt16LittleEndian(e[DirectoryEntry.Field.RecLen..]), blockSize);
            int nameLen = fileType ? e[DirectoryEntry.Field.NameLen] : BinaryPrimitives.ReadUInt16LittleEndian(e[DirectoryEntry.Field.NameLen..]);
            byte type = fileType ? e[DirectoryEntry.Field.FileType] : (byte)0;
            if (recLen < DirectoryEntry.HeaderSize || (recLen & 3) != 0 || recLen > block.Length - pos)
                return $"rec_len {recLen} at byte {pos} is invalid";
            if (DirectoryEntry.HeaderSize + nameLen > recLen || nameLen > DirectoryEntry.MaxNameLength)
                return $"name_len {nameLen} at byte {pos} does not fit rec_len {recLen}";
            if (inode != 0 && nameLen > 0)
            {
                if (into.Count >= maxEntries) return $"more than {maxEntries} entries";
                into.Add(new DirectoryEntry(inode, e.Slice(DirectoryEntry.Field.Name, nameLen).ToArray(), type));
            }
            pos += recLen;
        }
        return null;
    }
}
