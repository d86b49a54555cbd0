using System.Buffers.Text;
using System.Text;
using RootfsForge.Tree;

namespace RootfsForge.Tar;

/// <summary>
/// The pax extended header values that apply to one member: those of the global (<c>g</c>) records read so far that
/// <see cref="Inherit"/> takes, then the member's own (<c>x</c>) records, later ones overriding earlier ones (POSIX pax,
/// "pax Extended Header"). Keys not listed in
/// <see cref="PaxKeywords"/> (<c>uname</c>, <c>gname</c>, <c>comment</c>, <c>SCHILY.acl.*</c>, ...) are ignored: owners are
/// always the numeric ids (docs/tar-output.md §10). Reused across members.
/// </summary>
internal sealed class PaxAttributes
{
    private readonly List<(ExtendedAttribute Attribute, bool FromSchily)> _xattrs = [];
    private readonly Dictionary<string, int> _xattrIndex = new(StringComparer.Ordinal);

    public byte[]? Path { get; private set; }
    public byte[]? LinkPath { get; private set; }
    public long? Size { get; private set; }
    public uint? Uid { get; private set; }
    public uint? Gid { get; private set; }
    public UnixTime? MTime { get; private set; }
    public UnixTime? ATime { get; private set; }
    public UnixTime? CTime { get; private set; }
    public uint? DevMajor { get; private set; }
    public uint? DevMinor { get; private set; }

    /// <summary><c>GNU.sparse.major</c> and <c>GNU.sparse.minor</c>: "1" and "0" mark the 1.0 format.</summary>
    public (long Major, long Minor)? SparseVersion => _sparseMajor is { } major ? (major, _sparseMinor ?? 0) : null;

    public byte[]? SparseName { get; private set; }

    /// <summary><c>GNU.sparse.realsize</c> (1.0) or <c>GNU.sparse.size</c> (0.0, 0.1).</summary>
    public long? SparseRealSize { get; private set; }

    /// <summary>The 0.1 map: <c>GNU.sparse.map</c>, comma-separated offsets and lengths.</summary>
    public byte[]? SparseMap01 { get; private set; }

    /// <summary>The 0.0 map: the <c>GNU.sparse.offset</c>/<c>GNU.sparse.numbytes</c> values in the order they came.</summary>
    public List<long> SparseMap00 { get; } = [];

    private long? _sparseMajor;
    private long? _sparseMinor;

    /// <summary>Forgets every value (before the next member).</summary>
    public void Clear()
    {
        Path = LinkPath = SparseName = SparseMap01 = null;
        Size = SparseRealSize = _sparseMajor = _sparseMinor = null;
        Uid = Gid = DevMajor = DevMinor = null;
        MTime = ATime = CTime = null;
        _xattrs.Clear();
        _xattrIndex.Clear();
        SparseMap00.Clear();
    }

    /// <summary>
    /// Takes the values of a global header (<c>g</c>) that can apply to every later member: <c>uid</c>, <c>gid</c>,
    /// <c>mtime</c>, <c>atime</c>, <c>ctime</c> (what archivers put there). Names, sizes, sparse maps and xattrs describe
    /// one file and are not inherited (Go's archive/tar applies no global record at all), which also keeps the cost of a
    /// member independent of the size of the global headers before it.
    /// </summary>
    public void Inherit(PaxAttributes global)
    {
        Uid = global.Uid;
        Gid = global.Gid;
        MTime = global.MTime;
        ATime = global.ATime;
        CTime = global.CTime;
    }

    /// <summary>The extended attributes, sorted by name.</summary>
    public List<ExtendedAttribute> ExtendedAttributes()
    {
        var list = new List<ExtendedAttribute>(_xattrs.Count);
        foreach (var (attribute, _) in _xattrs) list.Add(attribute);
        list.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return list;
    }

    /// <summary>Applies every record of one header's data area (at archive offset <paramref name="offset"/>).</summary>
    public void Read(ReadOnlySpan<byte> data, long offset)
    {
        var reader = new PaxRecordReader(data, offset);
        while (reader.TryRead(out var key, out var value)) Apply(Encoding.UTF8.GetString(key), value, reader.RecordOffset);
    }

    private void Apply(string key, ReadOnlySpan<byte> value, long offset)
    {
        switch (key)
        {
            case PaxKeywords.Path: Path = Name(value, key, offset); break;
            case PaxKeywords.LinkPath: LinkPath = Name(value, key, offset); break;
            case PaxKeywords.Size: Size = Number(value, key, offset, 0, long.MaxValue); break;
            case PaxKeywords.Uid: Uid = (uint)Number(value, key, offset, 0, uint.MaxValue); break;
            case PaxKeywords.Gid: Gid = (uint)Number(value, key, offset, 0, uint.MaxValue); break;
            case PaxKeywords.MTime: MTime = Time(value, key, offset); break;
            case PaxKeywords.ATime: ATime = Time(value, key, offset); break;
            case PaxKeywords.CTime: CTime = Time(value, key, offset); break;
            case PaxKeywords.SchilyDevMajor: DevMajor = (uint)Number(value, key, offset, 0, uint.MaxValue); break;
            case PaxKeywords.SchilyDevMinor: DevMinor = (uint)Number(value, key, offset, 0, uint.MaxValue); break;
            case PaxKeywords.GnuSparseName: SparseName = Name(value, key, offset); break;
            case PaxKeywords.GnuSparseMajor: _sparseMajor = Number(value, key, offset, 0, long.MaxValue); break;
            case PaxKeywords.GnuSparseMinor: _sparseMinor = Number(value, key, offset, 0, long.MaxValue); break;
            case PaxKeywords.GnuSparseRealSize:
            case PaxKeywords.GnuSparseSize: SparseRealSize = Number(value, key, offset, 0, long.MaxValue); break;
            case PaxKeywords.GnuSparseMap: SparseMap01 = value.ToArray(); break;
            case PaxKeywords.GnuSparseOffset:
            case PaxKeywords.GnuSparseNumBytes:
                // 0.0 repeats these two keywords once per segment, against POSIX's "last one wins" (GNU tar manual, "PAX
                // Format, Versions 0.0 and 0.1"), so they are collected in order rather than overridden.
                if (SparseMap00.Count >= 2 * TarLimits.MaxSparseSegments)
                    throw new ImageFormatException($"GNU sparse 0.0 map has more than {TarLimits.MaxSparseSegments} segments",
                        "pax header", offset, kind: ImageErrorKind.LimitExceeded);
                SparseMap00.Add(Number(value, key, offset, 0, long.MaxValue));
                break;
            default:
                if (key.StartsWith(PaxKeywords.SchilyXattrPrefix, StringComparison.Ordinal))
                    SetXattr(key[PaxKeywords.SchilyXattrPrefix.Length..], value.ToArray(), fromSchily: true);
                else if (key.StartsWith(PaxKeywords.LibarchiveXattrPrefix, StringComparison.Ordinal))
                    SetXattr(Uri.UnescapeDataString(key[PaxKeywords.LibarchiveXattrPrefix.Length..]), Base64(value, offset), fromSchily: false);
                break;
        }
    }

    /// <summary>
    /// A later record for the same attribute replaces an earlier one, except that a <c>LIBARCHIVE.xattr</c> record never
    /// replaces a <c>SCHILY.xattr</c> one (bsdtar writes both forms of each attribute; the raw form is exact).
    /// </summary>
    private void SetXattr(string name, byte[] value, bool fromSchily)
    {
        if (!_xattrIndex.TryGetValue(name, out int i))
        {
            _xattrIndex.Add(name, _xattrs.Count);
            _xattrs.Add((new ExtendedAttribute(name, value), fromSchily));
        }
        else if (fromSchily || !_xattrs[i].FromSchily)
            _xattrs[i] = (new ExtendedAttribute(name, value), fromSchily);
    }

    private static byte[] Name(ReadOnlySpan<byte> value, string key, long offset) =>
        value.Length <= TarLimits.MaxNameLength
            ? value.ToArray()
            : throw new ImageFormatException($"pax {key} of {value.Length} bytes is longer than {TarLimits.MaxNameLength}",
                "pax header", offset, kind: ImageErrorKind.LimitExceeded);

    private static long Number(ReadOnlySpan<byte> value, string key, long offset, long min, long max)
    {
        if (Utf8Parser.TryParse(value, out long v, out int consumed) && consumed == value.Length && v >= min && v <= max) return v;
        throw new ImageFormatException($"pax record {key}='{Printable(value)}' is not a number in [{min}, {max}]", "pax header", offset);
    }

    /// <summary>A pax time, <c>[-]SECONDS[.FRACTION]</c>, exactly to the nanosecond (further digits are cut).</summary>
    private static UnixTime Time(ReadOnlySpan<byte> value, string key, long offset)
    {
        bool negative = value.Length > 0 && value[0] == '-';
        var body = negative ? value[1..] : value;
        int dot = body.IndexOf((byte)'.');
        var whole = dot < 0 ? body : body[..dot];
        var fraction = dot < 0 ? [] : body[(dot + 1)..];
        if (whole.Length is 0 or > 18 || whole.ContainsAnyExceptInRange((byte)'0', (byte)'9') || fraction.ContainsAnyExceptInRange((byte)'0', (byte)'9'))
            throw new ImageFormatException($"pax {key} '{Printable(value)}' is not a time", "pax header", offset);
        Utf8Parser.TryParse(whole, out long seconds, out _);
        long ns = 0;
        for (int i = 0; i < 9; i++) ns = ns * 10 + (i < fraction.Length ? fraction[i] - '0' : 0);
        if (!negative) return new UnixTime(seconds, (uint)ns);
        return ns == 0 ? new UnixTime(-seconds, 0) : new UnixTime(-seconds - 1, (uint)(1_000_000_000 - ns));
    }

    private static byte[] Base64(ReadOnlySpan<byte> value, long offset)
    {
        // libarchive writes base64 without padding; the decoder wants it.
        var text = Encoding.ASCII.GetString(value).TrimEnd('=');
        text = text.PadRight(text.Length + (4 - text.Length % 4) % 4, '=');
        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw new ImageFormatException("LIBARCHIVE.xattr value is not base64", "pax header", offset);
        }
    }

    private static string Printable(ReadOnlySpan<byte> value) =>
        TreePath.Printable(FileNameEncoding.GetString(value.Length > 64 ? value[..64] : value));
}
