namespace RootfsForge.Tar;

/// <summary>
/// The 512-byte ustar header (POSIX.1-2001 "pax" interchange format, IEEE Std 1003.1 "pax" §ustar Interchange Format),
/// with the GNU additions the reader understands. All offsets and lengths live here; <c>TarHeader.Write.cs</c> and
/// <c>TarHeader.Read.cs</c> use nothing else.
/// </summary>
internal static partial class TarHeader
{
    /// <summary>Size of a header and of the unit content is padded to.</summary>
    public const int BlockSize = 512;

    /// <summary>Field offsets in the header block.</summary>
    internal static class FieldLocations
    {
        public const int Name = 0;
        public const int Mode = 100;
        public const int Uid = 108;
        public const int Gid = 116;
        public const int Size = 124;
        public const int MTime = 136;
        public const int Checksum = 148;
        public const int TypeFlag = 156;
        public const int LinkName = 157;
        public const int Magic = 257;
        public const int Version = 263;
        public const int UName = 265;
        public const int GName = 297;
        public const int DevMajor = 329;
        public const int DevMinor = 337;
        public const int Prefix = 345;

        // Old GNU format ("ustar  \0" magic): sparse map inside the header, type 'S'.
        public const int GnuSparse = 386;
        public const int GnuIsExtended = 482;
        public const int GnuRealSize = 483;
    }

    /// <summary>Field lengths in bytes.</summary>
    internal static class FieldLengths
    {
        public const int Name = 100;
        public const int Mode = 8;
        public const int Uid = 8;
        public const int Gid = 8;
        public const int Size = 12;
        public const int MTime = 12;
        public const int Checksum = 8;
        public const int TypeFlag = 1;
        public const int LinkName = 100;
        public const int Magic = 6;
        public const int Version = 2;
        public const int UName = 32;
        public const int GName = 32;
        public const int DevMajor = 8;
        public const int DevMinor = 8;
        public const int Prefix = 155;

        public const int GnuSparseEntry = 24; // offset[12] + numbytes[12]
        public const int GnuSparseOffset = 12;
        public const int GnuSparseNumBytes = 12;
        public const int GnuSparseEntriesInHeader = 4;
        public const int GnuSparseEntriesInExtension = 21;
        public const int GnuRealSize = 12;
    }

    /// <summary>
    /// The old GNU sparse extension block that follows a type <c>S</c> header while its <c>isextended</c> byte is set
    /// (GNU tar manual, "Old GNU Format"): 21 (offset, numbytes) pairs, then its own <c>isextended</c> byte.
    /// </summary>
    internal static class GnuSparseExtensionLocations
    {
        public const int Entries = 0;
        public const int IsExtended = FieldLengths.GnuSparseEntriesInExtension * FieldLengths.GnuSparseEntry; // 504
    }

    /// <summary>Type flags (the <c>typeflag</c> byte).</summary>
    internal static class TypeFlags
    {
        public const byte RegularFile = (byte)'0';
        public const byte OldRegularFile = 0;
        public const byte HardLink = (byte)'1';
        public const byte SymbolicLink = (byte)'2';
        public const byte CharacterDevice = (byte)'3';
        public const byte BlockDevice = (byte)'4';
        public const byte Directory = (byte)'5';
        public const byte Fifo = (byte)'6';
        public const byte Contiguous = (byte)'7';
        public const byte PaxExtended = (byte)'x';
        public const byte PaxGlobal = (byte)'g';
        public const byte GnuLongName = (byte)'L';
        public const byte GnuLongLink = (byte)'K';
        public const byte GnuSparse = (byte)'S';
        public const byte GnuDirectoryDump = (byte)'D';
        public const byte GnuVolumeHeader = (byte)'V';
        public const byte GnuMultiVolume = (byte)'M';
    }

    /// <summary>"ustar\0" then version "00": the POSIX magic this writer emits.</summary>
    public static ReadOnlySpan<byte> UstarMagic => "ustar\0"u8;

    /// <summary>The POSIX version field.</summary>
    public static ReadOnlySpan<byte> UstarVersion => "00"u8;

    /// <summary>"ustar  \0": old GNU magic+version (8 bytes).</summary>
    public static ReadOnlySpan<byte> GnuMagic => "ustar  \0"u8;

    /// <summary>Largest value of an octal field of <paramref name="fieldLength"/> bytes (one byte is the NUL terminator).</summary>
    public static long MaxOctal(int fieldLength) => (1L << (3 * (fieldLength - 1))) - 1;
}
