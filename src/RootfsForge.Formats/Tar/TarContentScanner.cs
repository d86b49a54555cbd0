namespace RootfsForge.Tar;

/// <summary>What a run of archive bytes is, as <see cref="TarContentScanner"/> sees it.</summary>
internal enum TarRunKind
{
    /// <summary>Headers, extension data, padding, anything else: kept as it is.</summary>
    Other,

    /// <summary>The first bytes of a regular file's content (<see cref="TarContentScanner.ContentLength"/> bytes in all).</summary>
    ContentStart,

    /// <summary>More bytes of the content that started last.</summary>
    Content,
}

/// <summary>
/// Follows member boundaries in a tar stream as it passes once (a layer being spooled), to tell regular files' contents
/// from everything else: ustar/GNU headers, pax <c>x</c> records (their <c>size</c> overrides the header's), GNU long
/// names. Whatever it does not follow for certain — a global pax header, GNU or pax sparse members, a header that does
/// not parse, the end-of-archive blocks — turns it off for the rest of the stream: from there on every byte is
/// <see cref="TarRunKind.Other"/>. Its verdict is only an optimisation: the archive reads back the same bytes either way
/// (<see cref="TarArchive.ReadExactly"/>), and <see cref="TarMemberReader"/> stays the one parser of record.
/// </summary>
internal sealed class TarContentScanner
{
    /// <summary>Pax extended data larger than this turns the scanner off (such headers are rare and carry no content).</summary>
    private const int MaxPaxData = 1 << 16;

    private enum State
    {
        Header,
        Pax,
        Skip,
        Content,
        Off,
    }

    private readonly byte[] _header = new byte[TarHeader.BlockSize];
    private readonly PaxAttributes _pax = new();
    private byte[] _paxData = [];
    private State _state = State.Header;
    private int _filled;
    private long _position;
    private long _end; // where the current Pax, Skip or Content run ends
    private bool _contentStarted;

    /// <summary>The length of the content the last <see cref="TarRunKind.ContentStart"/> run began.</summary>
    public long ContentLength { get; private set; }

    /// <summary>
    /// Classifies the bytes at the current position: returns how many of the first bytes of <paramref name="data"/>
    /// (at least one) form one run of <paramref name="kind"/>, and moves past them.
    /// </summary>
    public int Next(ReadOnlySpan<byte> data, out TarRunKind kind)
    {
        if (data.IsEmpty) throw new ArgumentException("no bytes to classify", nameof(data));
        kind = TarRunKind.Other;
        int n;
        switch (_state)
        {
            case State.Header:
                n = Math.Min(TarHeader.BlockSize - _filled, data.Length);
                data[..n].CopyTo(_header.AsSpan(_filled));
                _filled += n;
                _position += n;
                if (_filled == TarHeader.BlockSize)
                {
                    _filled = 0;
                    OnHeader(_position - TarHeader.BlockSize);
                }
                return n;
            case State.Pax:
                n = Take(data);
                data[..n].CopyTo(_paxData.AsSpan(_paxData.Length - (int)(_end - _position)));
                _position += n;
                if (_position == _end) OnPaxData(_position - _paxData.Length);
                return n;
            case State.Skip:
                n = Take(data);
                _position += n;
                if (_position == _end) _state = State.Header;
                return n;
            case State.Content:
                n = Take(data);
                kind = _contentStarted ? TarRunKind.Content : TarRunKind.ContentStart;
                _contentStarted = true;
                _position += n;
                if (_position == _end) SkipTo(Padded(_end));
                return n;
            default:
                _position += data.Length;
                return data.Length;
        }
    }

    private int Take(ReadOnlySpan<byte> data) => (int)Math.Min(data.Length, _end - _position);

    private void OnHeader(long at)
    {
        if (TarHeader.IsZeroBlock(_header))
        {
            _state = State.Off; // the end marker: what follows is not members
            return;
        }
        TarHeaderFields h;
        try
        {
            h = TarHeader.Read(_header, at);
        }
        catch (ImageFormatException)
        {
            _state = State.Off; // the member reader will report it
            return;
        }
        long dataStart = at + TarHeader.BlockSize;
        switch (h.TypeFlag)
        {
            case TarHeader.TypeFlags.PaxExtended:
                if (h.Size > MaxPaxData)
                {
                    _state = State.Off;
                    return;
                }
                _paxData = new byte[h.Size];
                _end = dataStart + h.Size;
                _state = State.Pax;
                if (h.Size == 0) OnPaxData(dataStart);
                return;
            case TarHeader.TypeFlags.GnuLongName:
            case TarHeader.TypeFlags.GnuLongLink:
                SkipTo(Padded(dataStart + h.Size)); // the pax records read so far still apply to the member that follows
                return;
            case TarHeader.TypeFlags.RegularFile:
            case TarHeader.TypeFlags.Contiguous:
            {
                bool sparse = _pax.SparseVersion is not null || _pax.SparseMap01 is not null || _pax.SparseMap00.Count > 0
                              || _pax.SparseName is not null || _pax.SparseRealSize is not null;
                long size = _pax.Size ?? h.Size;
                _pax.Clear();
                if (sparse)
                {
                    _state = State.Off;
                    return;
                }
                if (size == 0)
                {
                    _state = State.Header;
                    return;
                }
                ContentLength = size;
                _contentStarted = false;
                _end = dataStart + size;
                _state = State.Content;
                return;
            }
            case TarHeader.TypeFlags.HardLink:
            case TarHeader.TypeFlags.SymbolicLink:
            case TarHeader.TypeFlags.CharacterDevice:
            case TarHeader.TypeFlags.BlockDevice:
            case TarHeader.TypeFlags.Directory:
            case TarHeader.TypeFlags.Fifo:
                _pax.Clear();
                _state = State.Header; // header-only types, whatever their size field says (as TarMemberReader reads them)
                return;
            case TarHeader.TypeFlags.GnuDirectoryDump:
                SkipTo(Padded(dataStart + (_pax.Size ?? h.Size)));
                _pax.Clear();
                return;
            default:
                // Global pax headers, GNU sparse and multi-volume members, pre-POSIX members (a directory only by its
                // name's trailing '/'), unknown types: not followed.
                _state = State.Off;
                return;
        }
    }

    private void OnPaxData(long at)
    {
        try
        {
            _pax.Read(_paxData, at);
        }
        catch (ImageFormatException)
        {
            _state = State.Off;
            return;
        }
        SkipTo(Padded(at + _paxData.Length));
    }

    private void SkipTo(long end)
    {
        _end = end;
        _state = _position == end ? State.Header : State.Skip;
    }

    private static long Padded(long offset) => (offset + TarHeader.BlockSize - 1) / TarHeader.BlockSize * TarHeader.BlockSize;
}
