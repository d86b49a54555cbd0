namespace RootfsForge.Ext4;

/// <summary>
/// Extended attribute layouts (docs/disk-formats.md §3.8): the in-inode area, the xattr block header and the entries.
/// </summary>
internal static partial class ExtendedAttributes
{
    internal const uint Magic = 0xEA020000;

    /// <summary>XATTR_SIZE_MAX: the largest value Linux accepts (bounds EA_INODE reads).</summary>
    internal const int MaxValueSize = 65536;

    /// <summary>In-inode area: a 4-byte magic, then entries; value offsets count from the first entry.</summary>
    internal const int InodeHeaderSize = 4;

    /// <summary>Xattr block header offsets; entries start at <see cref="BlockHeader.Size"/>, values count from the block start.</summary>
    internal static class BlockHeader
    {
        internal const int Magic = 0x00;
        internal const int RefCount = 0x04;
        internal const int Blocks = 0x08;
        internal const int Hash = 0x0C;
        internal const int Checksum = 0x10;
        internal const int Size = 32;
    }

    /// <summary>Entry offsets; the entry is padded to 4 bytes; the list ends at 4 zero bytes.</summary>
    internal static class Entry
    {
        internal const int NameLen = 0x00;
        internal const int NameIndex = 0x01;
        internal const int ValueOffs = 0x02;
        internal const int ValueInum = 0x04;
        internal const int ValueSize = 0x08;
        internal const int Hash = 0x0C;
        internal const int Name = 0x10;
    }

    /// <summary>Name prefixes by name_index.</summary>
    internal static class NameIndex
    {
        internal const byte User = 1;
        internal const byte PosixAclAccess = 2;
        internal const byte PosixAclDefault = 3;
        internal const byte Trusted = 4;
        internal const byte Lustre = 5;
        internal const byte Security = 6;
        internal const byte System = 7;
        internal const byte RichAcl = 8;
        internal const byte Encryption = 9;
    }

    internal static string? Prefix(byte index) => index switch
    {
        NameIndex.User => "user.",
        NameIndex.PosixAclAccess => "system.posix_acl_access",
        NameIndex.PosixAclDefault => "system.posix_acl_default",
        NameIndex.Trusted => "trusted.",
        NameIndex.Lustre => "lustre.",
        NameIndex.Security => "security.",
        NameIndex.System => "system.",
        NameIndex.RichAcl => "system.richacl",
        _ => null,
    };

    /// <summary>One raw entry: name index, name bytes, and either an inline value or an EA_INODE reference.</summary>
    internal readonly record struct RawEntry(byte Index, byte[] Name, byte[]? Value, uint ValueInode, uint ValueSize);
}
