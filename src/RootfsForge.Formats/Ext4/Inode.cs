using RootfsForge.Tree;

namespace RootfsForge.Ext4;

/// <summary>
/// An inode record (docs/disk-formats.md §3.4), parsed from its raw bytes which it keeps for i_block and in-inode
/// xattrs.
/// </summary>
internal sealed partial class Inode
{
    /// <summary>The ext2 part of every inode.</summary>
    internal const int GoodOldSize = 128;

    /// <summary>Size of i_block.</summary>
    internal const int BlockAreaSize = 60;

    /// <summary>Field offsets (kernel <c>struct ext4_inode</c>).</summary>
    internal static class Field
    {
        internal const int Mode = 0x00;
        internal const int UidLo = 0x02;
        internal const int SizeLo = 0x04;
        internal const int Atime = 0x08;
        internal const int Ctime = 0x0C;
        internal const int Mtime = 0x10;
        internal const int GidLo = 0x18;
        internal const int LinksCount = 0x1A;
        internal const int BlocksLo = 0x1C;
        internal const int Flags = 0x20;
        internal const int Block = 0x28;
        internal const int Generation = 0x64;
        internal const int FileAclLo = 0x68;
        internal const int SizeHigh = 0x6C;
        internal const int BlocksHi = 0x74;
        internal const int FileAclHi = 0x76;
        internal const int UidHi = 0x78;
        internal const int GidHi = 0x7A;
        internal const int ChecksumLo = 0x7C;
        internal const int ExtraIsize = 0x80;
        internal const int ChecksumHi = 0x82;
        internal const int CtimeExtra = 0x84;
        internal const int MtimeExtra = 0x88;
        internal const int AtimeExtra = 0x8C;
        internal const int Crtime = 0x90;
        internal const int CrtimeExtra = 0x94;
    }

    /// <summary>i_mode type bits.</summary>
    internal static class ModeType
    {
        internal const int Mask = 0xF000;
        internal const int Fifo = 0x1000;
        internal const int Chr = 0x2000;
        internal const int Dir = 0x4000;
        internal const int Blk = 0x6000;
        internal const int Reg = 0x8000;
        internal const int Lnk = 0xA000;
        internal const int Sock = 0xC000;
    }

    /// <summary>i_flags bits.</summary>
    internal static class Flag
    {
        internal const uint Encrypt = 0x800;
        internal const uint Index = 0x1000;
        internal const uint HugeFile = 0x40000;
        internal const uint Extents = 0x80000;
        internal const uint Verity = 0x100000;
        internal const uint EaInode = 0x200000;
        internal const uint InlineData = 0x10000000;
        internal const uint Casefold = 0x40000000;
    }

    public required uint Number { get; init; }

    /// <summary>The byte offset of the inode record on the device (in its group's inode table).</summary>
    public long Offset { get; init; }

    public required byte[] Raw { get; init; }
    public ushort Mode { get; init; }
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public ulong Size { get; init; }
    public ushort LinksCount { get; init; }
    /// <summary>i_blocks in 512-byte units (HUGE_FILE_FL already applied).</summary>
    public ulong Blocks512 { get; init; }
    public uint Flags { get; init; }
    public uint Generation { get; init; }
    public ulong FileAcl { get; init; }
    public int ExtraIsize { get; init; }
    public UnixTime Atime { get; init; }
    public UnixTime Ctime { get; init; }
    public UnixTime Mtime { get; init; }

    public int Type => Mode & ModeType.Mask;
    public bool IsDirectory => Type == ModeType.Dir;
    public bool HasFlag(uint flag) => (Flags & flag) != 0;
    public ReadOnlySpan<byte> BlockArea => Raw.AsSpan(Field.Block, BlockAreaSize);

    /// <summary>Where the in-inode xattr area begins (after the extra fields), or the inode size when there is none.</summary>
    public int InlineXattrStart => Raw.Length > GoodOldSize ? GoodOldSize + ExtraIsize : Raw.Length;
}
