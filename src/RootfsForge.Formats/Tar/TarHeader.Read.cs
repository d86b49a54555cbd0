using System.Text;

namespace RootfsForge.Tar;

/// <summary>The fields of one parsed header block.</summary>
internal struct TarHeaderFields
{
    public byte[] Name;
    public byte[] LinkName;
    public byte[] Prefix;
    public int Mode;
    public long Uid;
    public long Gid;
    public long Size;
    public long MTime;
    public byte TypeFlag;
    public long DevMajor;
    public long DevMinor;
    public bool IsUstar;
    public bool IsOldGnu;
}

internal static partial class TarHeader
{
    /// <summary>True when the block is all zeros (end-of-archive marker).</summary>
    public static bool IsZeroBlock(ReadOnlySpan<byte> block) => !block[..BlockSize].ContainsAnyExcept((byte)0);

    /// <summary>Parses a header block; <paramref name="offset"/> is used in errors only.</summary>
    /// <exception cref="ImageFormatException">The checksum or a numeric field is invalid.</exception>
    public static TarHeaderFields Read(ReadOnlySpan<byte> block, long offset)
    {
        VerifyChecksum(block, offset);
        var magic = block.Slice(FieldLocations.Magic, FieldLengths.Magic + FieldLengths.Version);
        bool gnu = magic.SequenceEqual(GnuMagic);
        bool ustar = !gnu && magic[..5].SequenceEqual("ustar"u8);
        var h = new TarHeaderFields
        {
            Name = CString(block.Slice(FieldLocations.Name, FieldLengths.Name)),
            LinkName = CString(block.Slice(FieldLocations.LinkName, FieldLengths.LinkName)),
            Prefix = ustar ? CString(block.Slice(FieldLocations.Prefix, FieldLengths.Prefix)) : [],
            Mode = (int)(ParseNumber(block.Slice(FieldLocations.Mode, FieldLengths.Mode), "mode", offset) & 0xFFF),
            Uid = ParseNumber(block.Slice(FieldLocations.Uid, FieldLengths.Uid), "uid", offset),
            Gid = ParseNumber(block.Slice(FieldLocations.Gid, FieldLengths.Gid), "gid", offset),
            Size = ParseNumber(block.Slice(FieldLocations.Size, FieldLengths.Size), "size", offset),
            MTime = ParseNumber(block.Slice(FieldLocations.MTime, FieldLengths.MTime), "mtime", offset),
            TypeFlag = block[FieldLocations.TypeFlag],
            IsUstar = ustar,
            IsOldGnu = gnu,
        };
        if (ustar || gnu)
        {
            h.DevMajor = ParseNumber(block.Slice(FieldLocations.DevMajor, FieldLengths.DevMajor), "devmajor", offset);
            h.DevMinor = ParseNumber(block.Slice(FieldLocations.DevMinor, FieldLengths.DevMinor), "devminor", offset);
        }
        if (h.Size < 0) throw new ImageFormatException($"negative size {h.Size}", "tar header", offset);
        return h;
    }

    /// <summary>
    /// A numeric field: octal digits (leading spaces/zeros, ended by NUL or space), or GNU base-256 when the first byte
    /// has its high bit set (0x80: positive, 0xFF: negative two's complement).
    /// </summary>
    public static long ParseNumber(ReadOnlySpan<byte> field, string what, long offset)
    {
        if (field.Length == 0) return 0;
        if ((field[0] & 0x80) != 0)
        {
            // The first byte is only the marker (0x80) or the sign (0xFF); the value is in the following bytes.
            bool negative = field[0] == 0xFF;
            long v = negative ? -1 : 0;
            for (int i = 1; i < field.Length; i++)
            {
                if (!negative && v > (long.MaxValue >> 8))
                    throw new ImageFormatException($"base-256 {what} overflows", "tar header", offset);
                v = (v << 8) | field[i];
            }
            return v;
        }
        int p = 0;
        while (p < field.Length && (field[p] == ' ' || field[p] == 0)) p++;
        if (p == field.Length) return 0;
        long value = 0;
        for (; p < field.Length; p++)
        {
            byte c = field[p];
            if (c == 0 || c == ' ') break;
            if (c < '0' || c > '7')
                throw new ImageFormatException($"{what} field holds '{Encoding.Latin1.GetString(field)}', not octal", "tar header", offset);
            if (value > (long.MaxValue >> 3)) throw new ImageFormatException($"{what} overflows", "tar header", offset);
            value = (value << 3) | (uint)(c - '0');
        }
        return value;
    }

    private static void VerifyChecksum(ReadOnlySpan<byte> block, long offset)
    {
        long stored = ParseNumber(block.Slice(FieldLocations.Checksum, FieldLengths.Checksum), "checksum", offset);
        int unsigned = 0, signed = 0;
        for (int i = 0; i < BlockSize; i++)
        {
            byte b = i >= FieldLocations.Checksum && i < FieldLocations.Checksum + FieldLengths.Checksum ? (byte)' ' : block[i];
            unsigned += b;
            signed += (sbyte)b;
        }
        if (stored != unsigned && stored != signed)
            throw new ImageFormatException($"header checksum {stored} does not match the computed {unsigned}; not a tar archive or corrupt",
                "tar header", offset, kind: ImageErrorKind.ChecksumMismatch);
    }

    private static byte[] CString(ReadOnlySpan<byte> field)
    {
        int end = field.IndexOf((byte)0);
        return (end < 0 ? field : field[..end]).ToArray();
    }
}
