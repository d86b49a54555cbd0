using System.Buffers.Text;

namespace RootfsForge.Tar;

/// <summary>
/// Reads the body of a pax extended header: records <c>"%d %s=%s\n"</c> where the leading decimal counts the whole
/// record including itself (POSIX pax, "pax Extended Header"); the counterpart of <see cref="PaxRecordWriter"/>. Values
/// are bytes (binary xattr values, non-UTF-8 names). Trailing NUL padding ends the records.
/// </summary>
internal ref struct PaxRecordReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly long _offset;
    private int _position;

    /// <param name="data">The header's data area.</param>
    /// <param name="offset">Where <paramref name="data"/> starts in the archive, for errors.</param>
    public PaxRecordReader(ReadOnlySpan<byte> data, long offset)
    {
        _data = data;
        _offset = offset;
    }

    /// <summary>The archive offset of the record returned last.</summary>
    public long RecordOffset { get; private set; }

    /// <summary>The next record, or false after the last.</summary>
    /// <exception cref="ImageFormatException">A record's length or syntax is invalid.</exception>
    public bool TryRead(out ReadOnlySpan<byte> key, out ReadOnlySpan<byte> value)
    {
        key = value = default;
        if (_position >= _data.Length || _data[_position] == 0) return false;
        var rest = _data[_position..];
        RecordOffset = _offset + _position;
        int space = rest.IndexOf((byte)' ');
        if (space <= 0 || space > 20) throw Corrupt("pax record has no length");
        if (!Utf8Parser.TryParse(rest[..space], out int length, out int consumed) || consumed != space
            || length <= space + 2 || length > rest.Length)
            throw Corrupt("pax record length is invalid");
        var record = rest.Slice(space + 1, length - space - 1);
        if (record[^1] != '\n') throw Corrupt("pax record does not end in a newline");
        int eq = record.IndexOf((byte)'=');
        if (eq <= 0) throw Corrupt("pax record has no '='");
        key = record[..eq];
        value = record[(eq + 1)..^1];
        _position += length;
        return true;
    }

    private readonly ImageFormatException Corrupt(string message) => new(message, "pax header", RecordOffset);
}
