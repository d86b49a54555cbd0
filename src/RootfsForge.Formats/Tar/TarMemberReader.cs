using RootfsForge.Tree;

namespace RootfsForge.Tar;

/// <summary>
/// Reads an archive's members one after the other: each header block with the extension headers before it (pax
/// extended <c>x</c> and global <c>g</c> records, GNU long name <c>L</c> and long link <c>K</c>) and its sparse map in any of
/// GNU's four formats, folded into one <see cref="TarMember"/> (docs/tar-output.md §10). Member data is not read, only
/// located: the archive is random-access, and contents are read later from <see cref="TarMember.DataOffset"/>.
/// </summary>
internal sealed class TarMemberReader
{
    private readonly TarArchive _archive;
    private readonly ICollection<string> _warnings;
    private readonly byte[] _header = new byte[TarHeader.BlockSize];
    private readonly PaxAttributes _pax = new();
    private readonly PaxAttributes _global = new();
    private readonly List<(byte[] Data, long Offset)> _extendedRecords = [];
    private readonly List<long> _sparseNumbers = [];
    private long _globalSize;
    private long _position;
    private bool _ended;

    /// <param name="archive">The archive, read from its start.</param>
    /// <param name="warnings">Where problems that do not stop reading go (unknown member types, a missing end marker).</param>
    public TarMemberReader(TarArchive archive, ICollection<string> warnings)
    {
        _archive = archive;
        _warnings = warnings;
    }

    /// <summary>The next member, or null at the end of the archive (two zero blocks, or the end of the data).</summary>
    /// <exception cref="ImageFormatException">A header, pax record or sparse map is corrupt, passes a <see cref="TarLimits"/>
    /// bound, or runs past the end of the archive.</exception>
    public TarMember? ReadNext(CancellationToken cancellationToken = default)
    {
        byte[]? longName = null, longLink = null;
        long memberStart = _position, extendedSize = 0;
        _extendedRecords.Clear();
        while (!_ended)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long at = _position;
            if (at >= _archive.Length)
            {
                _warnings.Add($"{_archive.Description}: the archive ends without the two zero blocks");
                _ended = true;
                break;
            }
            if (at + TarHeader.BlockSize > _archive.Length)
                throw new ImageFormatException("the archive is cut inside a header", "tar header", at, kind: ImageErrorKind.Truncated);
            _archive.ReadExactly(at, _header);
            if (TarHeader.IsZeroBlock(_header))
            {
                _ended = true;
                break;
            }
            var h = TarHeader.Read(_header, at);
            long dataStart = at + TarHeader.BlockSize;
            switch (h.TypeFlag)
            {
                case TarHeader.TypeFlags.PaxExtended:
                    extendedSize += h.Size;
                    _extendedRecords.Add((ReadExtension(h.Size, extendedSize, TarLimits.MaxPaxHeaderSize, "pax header", at), dataStart));
                    continue;
                case TarHeader.TypeFlags.PaxGlobal:
                    _globalSize += h.Size;
                    _global.Read(ReadExtension(h.Size, _globalSize, TarLimits.MaxPaxHeaderSize, "pax global header", at), dataStart);
                    continue;
                case TarHeader.TypeFlags.GnuLongName:
                case TarHeader.TypeFlags.GnuLongLink:
                {
                    var data = ReadExtension(h.Size, h.Size, TarLimits.MaxNameLength + 1, "GNU long name", at);
                    int nul = data.AsSpan().IndexOf((byte)0);
                    var value = nul < 0 ? data : data[..nul];
                    if (h.TypeFlag == TarHeader.TypeFlags.GnuLongName) longName = value;
                    else longLink = value;
                    continue;
                }
                case TarHeader.TypeFlags.GnuMultiVolume:
                    throw new UnsupportedImageException("multi-volume tar archives are not supported", "tar header", at);
            }
            var member = ReadMember(h, at, memberStart, longName, longLink);
            if (member is not null) return member;
            longName = longLink = null; // a member of an unknown type was skipped, with its extension headers
            memberStart = _position;
            extendedSize = 0;
            _extendedRecords.Clear();
        }
        return null;
    }

    /// <summary>The data of an extension header at <paramref name="headerOffset"/>; moves past it.</summary>
    private byte[] ReadExtension(long size, long total, long limit, string structure, long headerOffset)
    {
        if (total > limit)
            throw new ImageFormatException($"{structure} data of {total} bytes passes the limit of {limit}", structure, headerOffset,
                kind: ImageErrorKind.LimitExceeded);
        long dataStart = headerOffset + TarHeader.BlockSize;
        CheckData(dataStart, size, headerOffset);
        var data = new byte[size];
        _archive.ReadExactly(dataStart, data);
        _position = Next(dataStart, size);
        return data;
    }

    private TarMember? ReadMember(in TarHeaderFields h, long headerOffset, long memberStart, byte[]? longName, byte[]? longLink)
    {
        _pax.Clear();
        _pax.Inherit(_global);
        foreach (var (data, offset) in _extendedRecords) _pax.Read(data, offset);
        long dataStart = headerOffset + TarHeader.BlockSize;
        long size = _pax.Size ?? h.Size;
        byte[] name = _pax.SparseName ?? _pax.Path ?? longName ?? (h.Prefix.Length > 0 ? [.. h.Prefix, (byte)'/', .. h.Name] : h.Name);
        EntryType type;
        bool hasData = false;
        switch (h.TypeFlag)
        {
            case TarHeader.TypeFlags.RegularFile:
            case TarHeader.TypeFlags.Contiguous:
            case TarHeader.TypeFlags.GnuSparse:
                type = EntryType.RegularFile;
                hasData = true;
                break;
            case TarHeader.TypeFlags.OldRegularFile:
                // Pre-POSIX archives mark directories only by the trailing '/' of their name.
                type = name.Length > 0 && name[^1] == '/' ? EntryType.Directory : EntryType.RegularFile;
                hasData = type == EntryType.RegularFile;
                break;
            case TarHeader.TypeFlags.HardLink: type = EntryType.HardLink; break;
            case TarHeader.TypeFlags.SymbolicLink: type = EntryType.SymbolicLink; break;
            case TarHeader.TypeFlags.CharacterDevice: type = EntryType.CharacterDevice; break;
            case TarHeader.TypeFlags.BlockDevice: type = EntryType.BlockDevice; break;
            case TarHeader.TypeFlags.Directory: type = EntryType.Directory; break;
            case TarHeader.TypeFlags.Fifo: type = EntryType.Fifo; break;
            case TarHeader.TypeFlags.GnuDirectoryDump:
                type = EntryType.Directory; // its data, the dump's listing, is stepped over
                hasData = true;
                break;
            default:
                _warnings.Add($"{_archive.Description}: skipped a member of unknown type '{TreePath.Printable(((char)h.TypeFlag).ToString())}' at offset {headerOffset}");
                CheckData(dataStart, size, headerOffset);
                _position = Next(dataStart, size);
                return null;
        }

        long dataOffset = dataStart, storedLength = size, realSize = size;
        DataSegment[]? segments = null;
        if (type == EntryType.RegularFile) (dataOffset, storedLength, realSize, segments) = ReadSparseMap(h, headerOffset, size);
        if (hasData)
        {
            CheckData(dataOffset, storedLength, headerOffset);
            _position = Next(dataOffset, storedLength);
        }
        else
        {
            _position = dataStart; // header-only types carry no data whatever their size field says (as GNU tar, Go, Python read them)
        }

        var mtime = _pax.MTime ?? new UnixTime(h.MTime, 0);
        bool device = type is EntryType.CharacterDevice or EntryType.BlockDevice;
        return new TarMember
        {
            Offset = memberStart,
            Type = type,
            Name = name,
            LinkName = type is EntryType.HardLink or EntryType.SymbolicLink ? _pax.LinkPath ?? longLink ?? h.LinkName : [],
            Permissions = h.Mode,
            Uid = _pax.Uid ?? Id(h.Uid, "uid", headerOffset),
            Gid = _pax.Gid ?? Id(h.Gid, "gid", headerOffset),
            ModificationTime = mtime,
            AccessTime = _pax.ATime ?? mtime,
            ChangeTime = _pax.CTime ?? mtime,
            DeviceMajor = device ? _pax.DevMajor ?? Id(h.DevMajor, "devmajor", headerOffset) : 0,
            DeviceMinor = device ? _pax.DevMinor ?? Id(h.DevMinor, "devminor", headerOffset) : 0,
            ExtendedAttributes = _pax.ExtendedAttributes(),
            DataOffset = type == EntryType.RegularFile ? dataOffset : 0,
            Size = type == EntryType.RegularFile ? realSize : 0,
            Segments = segments,
        };
    }

    /// <summary>
    /// Where a regular file's data is and which ranges it fills: old GNU (type <c>S</c>), pax 1.0
    /// (<c>GNU.sparse.major=1</c>, <c>minor=0</c>), pax 0.1 (<c>GNU.sparse.map</c>), pax 0.0 (<c>GNU.sparse.offset</c> records),
    /// or not sparse.
    /// </summary>
    private (long DataOffset, long StoredLength, long RealSize, DataSegment[]? Segments) ReadSparseMap(in TarHeaderFields h,
        long headerOffset, long size)
    {
        long dataStart = headerOffset + TarHeader.BlockSize;
        var numbers = _sparseNumbers;
        numbers.Clear();
        long dataOffset = dataStart, storedLength = size, realSize;
        if (h.TypeFlag == TarHeader.TypeFlags.GnuSparse)
        {
            dataOffset = GnuSparseMap.ReadOldGnu(_archive, _header, dataStart, numbers, out realSize);
        }
        else if (_pax.SparseVersion is (1, 0))
        {
            realSize = _pax.SparseRealSize ?? throw MissingSize(PaxKeywords.GnuSparseRealSize, "1.0", headerOffset);
            CheckData(dataStart, size, headerOffset);
            long mapBytes = GnuSparseMap.ReadMap10(_archive, dataStart, size, numbers, headerOffset);
            dataOffset += mapBytes;
            storedLength -= mapBytes;
        }
        else if (_pax.SparseMap01 is { } map)
        {
            realSize = _pax.SparseRealSize ?? throw MissingSize(PaxKeywords.GnuSparseSize, "0.1", headerOffset);
            GnuSparseMap.ParseMap01(map, numbers, headerOffset);
        }
        else if (_pax.SparseMap00.Count > 0)
        {
            realSize = _pax.SparseRealSize ?? throw MissingSize(PaxKeywords.GnuSparseSize, "0.0", headerOffset);
            numbers.AddRange(_pax.SparseMap00);
        }
        else
        {
            return (dataStart, size, size, null);
        }
        return (dataOffset, storedLength, realSize, GnuSparseMap.ToSegments(numbers, realSize, storedLength, headerOffset));
    }

    private static ImageFormatException MissingSize(string keyword, string version, long headerOffset) =>
        new($"GNU sparse {version} member without {keyword}", "pax header", headerOffset);

    private static uint Id(long value, string what, long headerOffset) =>
        value is >= 0 and <= uint.MaxValue ? (uint)value : throw new ImageFormatException($"{what} {value} is out of range", "tar header", headerOffset);

    private void CheckData(long dataOffset, long size, long headerOffset)
    {
        if (size > _archive.Length - dataOffset)
            throw new ImageFormatException($"member data of {size} bytes runs past the end of the archive", "tar entry", headerOffset,
                kind: ImageErrorKind.Truncated);
    }

    /// <summary>The next header: after <paramref name="size"/> bytes of data at <paramref name="dataOffset"/>, padded to a block.</summary>
    private static long Next(long dataOffset, long size) =>
        dataOffset + (size + TarHeader.BlockSize - 1) / TarHeader.BlockSize * TarHeader.BlockSize;
}
