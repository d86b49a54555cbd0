namespace RootfsForge.Tar;

internal static partial class TarHeader
{
    /// <summary>
    /// Fills <paramref name="block"/> with a ustar header. Numeric values must fit their octal fields (callers move
    /// larger ones to pax records and pass 0); <paramref name="name"/> and <paramref name="linkName"/> are cut to 100 bytes.
    /// uname/gname stay empty so extractors use the numeric ids (docs/tar-output.md §4; the hub
    /// extracts as root, docs/flist-format.md §9).
    /// </summary>
    public static void WriteUstar(Span<byte> block, ReadOnlySpan<byte> name, int mode, long uid, long gid, long size,
        long mtime, byte typeFlag, ReadOnlySpan<byte> linkName, uint devMajor, uint devMinor)
    {
        block[..BlockSize].Clear();
        CopyTruncated(name, block.Slice(FieldLocations.Name, FieldLengths.Name));
        WriteOctal(block.Slice(FieldLocations.Mode, FieldLengths.Mode), mode & 0xFFF);
        WriteOctal(block.Slice(FieldLocations.Uid, FieldLengths.Uid), uid);
        WriteOctal(block.Slice(FieldLocations.Gid, FieldLengths.Gid), gid);
        WriteOctal(block.Slice(FieldLocations.Size, FieldLengths.Size), size);
        WriteOctal(block.Slice(FieldLocations.MTime, FieldLengths.MTime), mtime);
        block[FieldLocations.TypeFlag] = typeFlag;
        CopyTruncated(linkName, block.Slice(FieldLocations.LinkName, FieldLengths.LinkName));
        UstarMagic.CopyTo(block.Slice(FieldLocations.Magic, FieldLengths.Magic));
        UstarVersion.CopyTo(block.Slice(FieldLocations.Version, FieldLengths.Version));
        if (typeFlag is TypeFlags.CharacterDevice or TypeFlags.BlockDevice)
        {
            WriteOctal(block.Slice(FieldLocations.DevMajor, FieldLengths.DevMajor), devMajor);
            WriteOctal(block.Slice(FieldLocations.DevMinor, FieldLengths.DevMinor), devMinor);
        }
        WriteChecksum(block);
    }

    /// <summary>True when <paramref name="value"/> fits an octal field of <paramref name="fieldLength"/> bytes.</summary>
    public static bool FitsOctal(long value, int fieldLength) => value >= 0 && value <= MaxOctal(fieldLength);

    /// <summary>Writes zero-padded octal digits followed by NUL (the field's last byte).</summary>
    private static void WriteOctal(Span<byte> field, long value)
    {
        if (!FitsOctal(value, field.Length))
            throw new ArgumentOutOfRangeException(nameof(value), $"{value} does not fit a {field.Length}-byte octal tar field");
        int i = field.Length - 1;
        field[i] = 0;
        while (i > 0)
        {
            field[--i] = (byte)('0' + (int)(value & 7));
            value >>= 3;
        }
    }

    /// <summary>
    /// The checksum is the sum of the header's bytes with the checksum field read as eight spaces, stored as six octal
    /// digits, NUL, space (the form every tar writes).
    /// </summary>
    private static void WriteChecksum(Span<byte> block)
    {
        var field = block.Slice(FieldLocations.Checksum, FieldLengths.Checksum);
        field.Fill((byte)' ');
        int sum = 0;
        foreach (byte b in block[..BlockSize]) sum += b;
        for (int i = 5; i >= 0; i--)
        {
            field[i] = (byte)('0' + (sum & 7));
            sum >>= 3;
        }
        field[6] = 0;
        field[7] = (byte)' ';
    }

    private static void CopyTruncated(ReadOnlySpan<byte> source, Span<byte> field)
    {
        var s = source.Length > field.Length ? source[..field.Length] : source;
        s.CopyTo(field);
    }
}
