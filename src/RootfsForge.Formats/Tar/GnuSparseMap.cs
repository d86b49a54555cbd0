using System.Buffers.Text;
using RootfsForge.Tree;

namespace RootfsForge.Tar;

/// <summary>
/// The four ways GNU tar stores a sparse file's map (GNU tar manual, "Storing Sparse Files"; docs/tar-output.md §8, §10):
/// old GNU (type <c>S</c>: pairs in the header and in extension blocks), pax 0.0 (repeated <c>GNU.sparse.offset</c> /
/// <c>GNU.sparse.numbytes</c> records), pax 0.1 (one <c>GNU.sparse.map</c> record) and pax 1.0 (decimal lines at the start
/// of the data area). Each reader collects the flat list offset, length, offset, length, ...; <see cref="ToSegments"/>
/// checks it. The segments' data is stored back to back.
/// </summary>
internal static class GnuSparseMap
{
    /// <summary>
    /// Old GNU: 4 pairs in the header at byte 386, then while the <c>isextended</c> byte is set, extension blocks of 21 pairs
    /// right after the header. Returns where the stored data starts (after the extension blocks).
    /// </summary>
    public static long ReadOldGnu(TarArchive archive, ReadOnlySpan<byte> header, long dataStart, List<long> numbers, out long realSize)
    {
        long headerOffset = dataStart - TarHeader.BlockSize;
        ReadPairs(header.Slice(TarHeader.FieldLocations.GnuSparse, TarHeader.FieldLengths.GnuSparseEntriesInHeader * TarHeader.FieldLengths.GnuSparseEntry),
            numbers, headerOffset);
        realSize = TarHeader.ParseNumber(header.Slice(TarHeader.FieldLocations.GnuRealSize, TarHeader.FieldLengths.GnuRealSize), "realsize", headerOffset);
        bool extended = header[TarHeader.FieldLocations.GnuIsExtended] != 0;
        Span<byte> block = stackalloc byte[TarHeader.BlockSize];
        long at = dataStart;
        while (extended)
        {
            if (numbers.Count > 2 * TarLimits.MaxSparseSegments)
                throw new ImageFormatException($"old GNU sparse map has more than {TarLimits.MaxSparseSegments} segments", "tar header",
                    headerOffset, kind: ImageErrorKind.LimitExceeded);
            if (at + TarHeader.BlockSize > archive.Length)
                throw new ImageFormatException("old GNU sparse extension blocks run past the end of the archive", "tar header", headerOffset,
                    kind: ImageErrorKind.Truncated);
            archive.ReadExactly(at, block);
            ReadPairs(block[..TarHeader.GnuSparseExtensionLocations.IsExtended], numbers, at);
            extended = block[TarHeader.GnuSparseExtensionLocations.IsExtended] != 0;
            at += TarHeader.BlockSize;
        }
        return at;
    }

    /// <summary>Pax 0.1: <c>GNU.sparse.map</c> = "offset,length,offset,length,...".</summary>
    public static void ParseMap01(ReadOnlySpan<byte> map, List<long> numbers, long headerOffset)
    {
        if (map.IsEmpty) return;
        foreach (var range in map.Split((byte)','))
        {
            if (numbers.Count >= 2 * TarLimits.MaxSparseSegments)
                throw new ImageFormatException($"GNU.sparse.map has more than {TarLimits.MaxSparseSegments} segments", "pax header",
                    headerOffset, kind: ImageErrorKind.LimitExceeded);
            var text = map[range];
            if (!Utf8Parser.TryParse(text, out long value, out int consumed) || consumed != text.Length || value < 0)
                throw new ImageFormatException("GNU.sparse.map holds something other than numbers", "pax header", headerOffset);
            numbers.Add(value);
        }
    }

    /// <summary>
    /// Pax 1.0: the data area of <paramref name="dataLength"/> bytes at <paramref name="dataOffset"/> starts with decimal
    /// numbers, one per line: the count of segments, then each offset and length; padded with NULs to a 512-byte boundary.
    /// Returns the padded size of the map, after which the segments' data follows.
    /// </summary>
    public static long ReadMap10(TarArchive archive, long dataOffset, long dataLength, List<long> numbers, long headerOffset)
    {
        var reader = new LineReader(archive, dataOffset, dataLength, headerOffset);
        long count = reader.Next();
        if (count > TarLimits.MaxSparseSegments)
            throw new ImageFormatException($"GNU sparse map has {count} segments, more than {TarLimits.MaxSparseSegments}", "sparse map",
                dataOffset, kind: ImageErrorKind.LimitExceeded);
        for (long i = 0; i < 2 * count; i++) numbers.Add(reader.Next());
        long mapBytes = (reader.Consumed + TarHeader.BlockSize - 1) / TarHeader.BlockSize * TarHeader.BlockSize;
        if (mapBytes > dataLength)
            throw new ImageFormatException("GNU sparse map runs past the member's data", "sparse map", dataOffset, kind: ImageErrorKind.Truncated);
        return mapBytes;
    }

    /// <summary>
    /// The segments holding data, checked: in order, not overlapping, within <paramref name="realSize"/>, and describing
    /// no more than the <paramref name="storedLength"/> bytes stored. Empty segments (GNU tar ends a file that ends in a
    /// hole with one at its size) are dropped.
    /// </summary>
    public static DataSegment[] ToSegments(List<long> numbers, long realSize, long storedLength, long headerOffset)
    {
        if (numbers.Count % 2 != 0) throw new ImageFormatException("GNU sparse map has an odd number of values", "sparse map", headerOffset);
        var segments = new List<DataSegment>(numbers.Count / 2);
        long end = 0, total = 0;
        for (int i = 0; i < numbers.Count; i += 2)
        {
            long offset = numbers[i], length = numbers[i + 1];
            if (offset < end || length < 0 || offset > realSize || length > realSize - offset)
                throw new ImageFormatException($"GNU sparse segment [{offset}, +{length}) is out of order or past the size {realSize}",
                    "sparse map", headerOffset);
            if (length == 0) continue;
            segments.Add(new DataSegment(offset, length));
            end = offset + length;
            total += length;
        }
        if (total > storedLength)
            throw new ImageFormatException($"GNU sparse map describes {total} bytes but the member stores {storedLength}", "sparse map",
                headerOffset);
        return segments.ToArray();
    }

    private static void ReadPairs(ReadOnlySpan<byte> area, List<long> numbers, long offset)
    {
        for (int at = 0; at + TarHeader.FieldLengths.GnuSparseEntry <= area.Length; at += TarHeader.FieldLengths.GnuSparseEntry)
        {
            var entry = area.Slice(at, TarHeader.FieldLengths.GnuSparseEntry);
            if (entry[0] == 0) break;
            numbers.Add(TarHeader.ParseNumber(entry[..TarHeader.FieldLengths.GnuSparseOffset], "sparse offset", offset));
            numbers.Add(TarHeader.ParseNumber(entry.Slice(TarHeader.FieldLengths.GnuSparseOffset, TarHeader.FieldLengths.GnuSparseNumBytes),
                "sparse numbytes", offset));
        }
    }

    /// <summary>Decimal numbers ended by newlines, read a block at a time from the member's data area.</summary>
    private sealed class LineReader(TarArchive archive, long start, long length, long headerOffset)
    {
        private readonly byte[] _block = new byte[TarHeader.BlockSize];
        private long _blockIndex = -1;

        public long Consumed { get; private set; }

        public long Next()
        {
            long value = 0;
            int digits = 0;
            while (true)
            {
                if (Consumed >= length)
                    throw new ImageFormatException("GNU sparse map runs past the member's data", "sparse map", headerOffset,
                        kind: ImageErrorKind.Truncated);
                long blockIndex = Consumed / TarHeader.BlockSize;
                if (blockIndex != _blockIndex)
                {
                    archive.ReadExactly(start + blockIndex * TarHeader.BlockSize, _block);
                    _blockIndex = blockIndex;
                }
                byte c = _block[Consumed % TarHeader.BlockSize];
                Consumed++;
                if (c == '\n')
                {
                    if (digits == 0) throw new ImageFormatException("empty number in GNU sparse map", "sparse map", start + Consumed - 1);
                    return value;
                }
                if (c < '0' || c > '9' || ++digits > 18)
                    throw new ImageFormatException("invalid number in GNU sparse map", "sparse map", start + Consumed - 1);
                value = value * 10 + (c - '0');
            }
        }
    }
}
