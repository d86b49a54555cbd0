using System.Buffers;
using System.Buffers.Text;
using RootfsForge.Tree;

namespace RootfsForge.Tar;

/// <summary>
/// Writes tree entries as a POSIX pax tar stream (ustar headers with magic <c>"ustar\0"</c> <c>"00"</c>), deterministically:
/// names <c>./etc/passwd</c> (the root as <c>./</c>), numeric ids with empty user/group names, no atime/ctime records,
/// pax header names derived from the entry name only. Long or non-UTF-8 names, large ids/sizes and sub-second mtimes go
/// to pax records; xattrs to <c>SCHILY.xattr.*</c>; files with holes to GNU sparse 1.0 (docs/tar-output.md).
/// </summary>
/// <remarks>
/// Hand-written rather than <see cref="System.Formats.Tar.TarWriter"/>: that writer cannot produce GNU sparse 1.0 entries
/// (a multi-GiB sparse <c>/var/log/lastlog</c> would be written in full), takes pax values as strings (xattr values are
/// binary), and names pax headers with the process id (two runs would differ).
/// </remarks>
internal sealed class PaxTarWriter
{
    private const int CopyBufferSize = 1 << 20;

    private readonly Stream _out;
    private readonly UnixTime? _mtimeClamp;
    private readonly SinkCounters _counters;
    private readonly byte[] _paxHeader = new byte[TarHeader.BlockSize];
    private readonly byte[] _entryHeader = new byte[TarHeader.BlockSize];
    private readonly PaxRecordWriter _pax = new();
    private readonly NameBuilder _name = new();
    private readonly NameBuilder _link = new();
    private readonly NameBuilder _scratch = new();
    private byte[]? _copyBuffer;

    /// <param name="output">Where the archive goes (buffer it: headers are written in 512-byte pieces).</param>
    /// <param name="mtimeClamp">When set, later modification times are written as this time (SOURCE_DATE_EPOCH).</param>
    /// <param name="counters">Where entries, content bytes, skipped sockets, dropped xattrs and warnings are counted.</param>
    public PaxTarWriter(Stream output, UnixTime? mtimeClamp, SinkCounters counters)
    {
        _out = output;
        _mtimeClamp = mtimeClamp;
        _counters = counters;
    }

    /// <summary>
    /// Writes one entry (and its content). Sockets are skipped and counted; symlink targets end at their first NUL, as
    /// the kernel reads them, and an empty target is kept with a warning (extractors cannot create it).
    /// </summary>
    public async ValueTask WriteEntryAsync(TreeEntry entry, CancellationToken cancellationToken)
    {
        if (entry.Type == EntryType.Socket)
        {
            _counters.CountSkippedSocket();
            return;
        }
        TreePath.Validate(entry.Path);
        FileContent? content = null;
        try
        {
            var (typeFlag, sparse, size) = Describe(entry, ref content);
            var sparseMap = PrepareHeaders(entry, typeFlag, sparse, size);
            if (_pax.Length > 0)
            {
                await _out.WriteAsync(_paxHeader, cancellationToken).ConfigureAwait(false);
                await _out.WriteAsync(_pax.WrittenMemory, cancellationToken).ConfigureAwait(false);
                await PadAsync(_pax.Length, cancellationToken).ConfigureAwait(false);
            }
            await _out.WriteAsync(_entryHeader, cancellationToken).ConfigureAwait(false);
            if (content is not null)
            {
                if (sparseMap is not null)
                {
                    await _out.WriteAsync(sparseMap, cancellationToken).ConfigureAwait(false);
                    long written = 0;
                    for (int i = 0; i < sparse!.Count; i++)
                    {
                        await CopyContentAsync(content, sparse[i].Offset, sparse[i].Length, entry.Path, cancellationToken).ConfigureAwait(false);
                        written += sparse[i].Length;
                    }
                    await PadAsync(sparseMap.Length + written, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await CopyContentAsync(content, 0, size, entry.Path, cancellationToken).ConfigureAwait(false);
                    await PadAsync(size, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            content?.Dispose();
        }
        _counters.CountEntry();
    }

    /// <summary>Writes the end of the archive: two zero blocks.</summary>
    public async ValueTask FinishAsync(CancellationToken cancellationToken)
    {
        Array.Clear(_entryHeader);
        await _out.WriteAsync(_entryHeader, cancellationToken).ConfigureAwait(false);
        await _out.WriteAsync(_entryHeader, cancellationToken).ConfigureAwait(false);
        ReturnBuffer();
    }

    /// <summary>Returns the pooled copy buffer (after the last entry, or when the output is abandoned).</summary>
    public void ReturnBuffer()
    {
        if (_copyBuffer is not null) ArrayPool<byte>.Shared.Return(_copyBuffer);
        _copyBuffer = null;
    }

    /// <summary>The entry's type flag, sparse segments (null when the file has no holes) and data size; sets names.</summary>
    private (byte TypeFlag, IReadOnlyList<DataSegment>? Sparse, long Size) Describe(TreeEntry entry, ref FileContent? content)
    {
        _name.SetRelative(entry.Path, entry.Type == EntryType.Directory);
        _link.Clear();
        switch (entry.Type)
        {
            case EntryType.Directory:
                return (TarHeader.TypeFlags.Directory, null, 0);
            case EntryType.RegularFile:
                content = entry.OpenContent?.Invoke()
                    ?? throw new ArgumentException($"regular file '{entry.Path}' has no content", nameof(entry));
                long size = content.Length;
                var segments = content.GetDataSegments();
                long data = 0;
                for (int i = 0; i < segments.Count; i++) data += segments[i].Length;
                return (TarHeader.TypeFlags.RegularFile, data < size ? segments : null, size);
            case EntryType.HardLink:
                if (string.IsNullOrEmpty(entry.LinkTarget))
                    throw new ImageFormatException($"hard link '{entry.Path}' has no target", "tree entry");
                TreePath.Validate(entry.LinkTarget, "hard link target");
                _link.SetRelative(entry.LinkTarget, false);
                return (TarHeader.TypeFlags.HardLink, null, 0);
            case EntryType.SymbolicLink:
                // The target as the kernel reads it (up to the first NUL), like the directory sink. An empty one is kept:
                // tar holds an empty linkname and the archive stays faithful to the image, but extractors cannot create
                // such a link (symlink(2) fails with ENOENT), so say so; the directory sink skips it with a warning.
                var linkTarget = SymlinkTarget.AsKernelReadsIt(entry.LinkTarget, out bool truncated);
                if (linkTarget.Length == 0)
                    _counters.Warn($"'{entry.Path}': symlink with empty target kept; extracting it will fail");
                else if (truncated)
                    _counters.Warn(SymlinkTarget.TruncatedWarning(entry.Path));
                _link.SetRaw(linkTarget);
                return (TarHeader.TypeFlags.SymbolicLink, null, 0);
            case EntryType.CharacterDevice:
                return (TarHeader.TypeFlags.CharacterDevice, null, 0);
            case EntryType.BlockDevice:
                return (TarHeader.TypeFlags.BlockDevice, null, 0);
            case EntryType.Fifo:
                return (TarHeader.TypeFlags.Fifo, null, 0);
            default:
                throw new ArgumentException($"unknown entry type {entry.Type} for '{entry.Path}'", nameof(entry));
        }
    }

    /// <summary>
    /// Fills <see cref="_pax"/> with the entry's records (with the pax header in <see cref="_paxHeader"/> when there are
    /// any) and <see cref="_entryHeader"/> with its ustar header; returns the GNU sparse 1.0 map for a file with holes.
    /// </summary>
    private byte[]? PrepareHeaders(TreeEntry entry, byte typeFlag, IReadOnlyList<DataSegment>? sparse, long size)
    {
        _pax.Clear();
        bool binary = _name.HasEscapes || _link.HasEscapes;
        long mtimeField = WriteCommonRecords(entry, binary, sparse is null ? size : 0);
        byte[]? sparseMap = null;
        long headerSize = size;
        var headerName = _name.Bytes;
        if (sparse is not null)
        {
            // GNU sparse 1.0 (GNU tar manual, "Sparse Formats"): the real name and size in pax records, a stand-in
            // name "<dir>/GNUSparseFile.0/<base>", and the data area = decimal map padded to 512, then the segments.
            _pax.Add("GNU.sparse.major"u8, "1"u8);
            _pax.Add("GNU.sparse.minor"u8, "0"u8);
            _pax.Add("GNU.sparse.name"u8, _name.Bytes);
            _pax.Add("GNU.sparse.realsize"u8, size);
            sparseMap = BuildSparseMap(sparse, size, out long dataBytes);
            headerSize = sparseMap.Length + dataBytes;
            if (!TarHeader.FitsOctal(headerSize, TarHeader.FieldLengths.Size)) _pax.Add("size"u8, headerSize);
            _scratch.SetSparseStandIn(_name.Bytes);
            headerName = _scratch.Bytes;
        }
        else if (_name.Bytes.Length > TarHeader.FieldLengths.Name || _name.HasEscapes)
        {
            _pax.Add("path"u8, _name.Bytes);
        }
        if (_link.Bytes.Length > TarHeader.FieldLengths.LinkName || _link.HasEscapes) _pax.Add("linkpath"u8, _link.Bytes);
        if (entry.Type is EntryType.CharacterDevice or EntryType.BlockDevice)
        {
            // Larger than the 7 octal digits of ustar (never on Linux, whose limits are 12:20 bits): star's records.
            if (!TarHeader.FitsOctal(entry.DeviceMajor, TarHeader.FieldLengths.DevMajor)) _pax.Add("SCHILY.devmajor"u8, entry.DeviceMajor);
            if (!TarHeader.FitsOctal(entry.DeviceMinor, TarHeader.FieldLengths.DevMinor)) _pax.Add("SCHILY.devminor"u8, entry.DeviceMinor);
        }
        var xattrs = entry.ExtendedAttributes;
        for (int i = 0; i < xattrs.Count; i++)
        {
            var xattr = xattrs[i];
            if (xattr.Name.Contains('=') || xattr.Name.Length == 0)
            {
                // A pax record is "key=value": the key cannot hold '=' (and an empty name is no attribute).
                _counters.CountDroppedAttributes(1);
                _counters.Warn($"'{entry.Path}': xattr '{xattr.Name}' not stored: a pax record name cannot hold '=' or be empty");
                continue;
            }
            _pax.Add("SCHILY.xattr." + xattr.Name, xattr.Value);
        }

        long uid = TarHeader.FitsOctal(entry.Uid, TarHeader.FieldLengths.Uid) ? entry.Uid : 0;
        long gid = TarHeader.FitsOctal(entry.Gid, TarHeader.FieldLengths.Gid) ? entry.Gid : 0;
        long sizeField = TarHeader.FitsOctal(headerSize, TarHeader.FieldLengths.Size) ? headerSize : 0;
        uint devMajor = TarHeader.FitsOctal(entry.DeviceMajor, TarHeader.FieldLengths.DevMajor) ? entry.DeviceMajor : 0;
        uint devMinor = TarHeader.FitsOctal(entry.DeviceMinor, TarHeader.FieldLengths.DevMinor) ? entry.DeviceMinor : 0;
        TarHeader.WriteUstar(_entryHeader, headerName, entry.Permissions, uid, gid, sizeField, mtimeField, typeFlag,
            _link.Bytes, devMajor, devMinor);
        if (_pax.Length > 0)
        {
            // Deterministic name: "./PaxHeaders/<base name>" (no pid, unlike GNU tar's default %d/PaxHeaders.%p/%f).
            _scratch.SetPaxHeaderName(_name.Bytes);
            TarHeader.WriteUstar(_paxHeader, _scratch.Bytes, 0x1A4, 0, 0, _pax.Length, mtimeField,
                TarHeader.TypeFlags.PaxExtended, default, 0, 0);
        }
        return sparseMap;
    }

    /// <summary>Adds hdrcharset/uid/gid/size/mtime records as needed; returns the header's mtime field value.</summary>
    private long WriteCommonRecords(TreeEntry entry, bool binary, long size)
    {
        if (binary) _pax.Add("hdrcharset"u8, "BINARY"u8);
        if (!TarHeader.FitsOctal(entry.Uid, TarHeader.FieldLengths.Uid)) _pax.Add("uid"u8, entry.Uid);
        if (!TarHeader.FitsOctal(entry.Gid, TarHeader.FieldLengths.Gid)) _pax.Add("gid"u8, entry.Gid);
        if (!TarHeader.FitsOctal(size, TarHeader.FieldLengths.Size)) _pax.Add("size"u8, size);
        var mtime = entry.ModificationTime;
        if (_mtimeClamp is { } clamp) mtime = mtime.ClampTo(clamp);
        bool fits = TarHeader.FitsOctal(mtime.Seconds, TarHeader.FieldLengths.MTime);
        if (mtime.Nanoseconds != 0 || !fits)
        {
            Span<byte> text = stackalloc byte[48];
            _pax.Add("mtime"u8, text[..FormatTime(mtime, text)]);
        }
        return fits ? mtime.Seconds : 0;
    }

    /// <summary>
    /// Formats a pax time: decimal seconds with an optional fraction, trailing zeros dropped. A time before 1970 with a
    /// fraction is -(|s|-1).(1e9-ns): UnixTime(-2, 0.75e9) is -1.25 s.
    /// </summary>
    internal static int FormatTime(UnixTime t, Span<byte> dest)
    {
        long seconds = t.Seconds;
        long ns = t.Nanoseconds;
        int n = 0;
        if (seconds < 0 && ns > 0)
        {
            dest[n++] = (byte)'-';
            seconds = -(seconds + 1);
            ns = 1_000_000_000 - ns;
        }
        Utf8Formatter.TryFormat(seconds, dest[n..], out int w);
        n += w;
        if (ns != 0)
        {
            dest[n++] = (byte)'.';
            int digits = 9;
            while (ns % 10 == 0)
            {
                ns /= 10;
                digits--;
            }
            Utf8Formatter.TryFormat(ns, dest[n..], out w, new StandardFormat('D', (byte)digits));
            n += w;
        }
        return n;
    }

    /// <summary>The GNU sparse 1.0 map: count, then offset/size pairs, one decimal per line, padded to 512 bytes.</summary>
    private static byte[] BuildSparseMap(IReadOnlyList<DataSegment> segments, long realSize, out long dataBytes)
    {
        var list = new List<DataSegment>(segments.Count + 1);
        dataBytes = 0;
        for (int i = 0; i < segments.Count; i++)
        {
            var s = segments[i];
            if (s.Length <= 0) continue;
            if (s.Offset < 0 || s.End > realSize || (list.Count > 0 && s.Offset < list[^1].End))
                throw new ImageFormatException($"data segment [{s.Offset}, +{s.Length}) is out of order or past the end {realSize}", "file content");
            list.Add(s);
            dataBytes += s.Length;
        }
        // GNU tar ends a file that ends in a hole with an empty segment at its size; readers then know the length.
        if (list.Count == 0 || list[^1].End < realSize) list.Add(new DataSegment(realSize, 0));
        var text = new System.Text.StringBuilder();
        text.Append(list.Count).Append('\n');
        foreach (var s in list) text.Append(s.Offset).Append('\n').Append(s.Length).Append('\n');
        var map = new byte[(text.Length + TarHeader.BlockSize - 1) / TarHeader.BlockSize * TarHeader.BlockSize];
        System.Text.Encoding.ASCII.GetBytes(text.ToString(), map);
        return map;
    }

    private async ValueTask CopyContentAsync(FileContent content, long offset, long length, string path, CancellationToken cancellationToken)
    {
        if (length <= 0) return;
        _copyBuffer ??= ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        content.Prefetch(offset, length);
        long done = 0;
        while (done < length)
        {
            int n = (int)Math.Min(_copyBuffer.Length, length - done);
            var chunk = _copyBuffer.AsMemory(0, n);
            try
            {
                await content.ReadExactlyAtAsync(offset + done, chunk, cancellationToken).ConfigureAwait(false);
            }
            catch (EndOfStreamException e)
            {
                throw new IOException($"content of '{path}' ended early: {e.Message}", e);
            }
            await _out.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
            done += n;
            _counters.CountContentBytes(n);
        }
    }

    private ValueTask PadAsync(long written, CancellationToken cancellationToken)
    {
        int rem = (int)(written % TarHeader.BlockSize);
        return rem == 0 ? default : _out.WriteAsync(Zeros.AsMemory(0, TarHeader.BlockSize - rem), cancellationToken);
    }

    private static readonly byte[] Zeros = new byte[TarHeader.BlockSize];

    /// <summary>A reusable byte buffer for names.</summary>
    private sealed class NameBuilder
    {
        private byte[] _buffer = new byte[256];
        private int _length;

        public ReadOnlySpan<byte> Bytes => _buffer.AsSpan(0, _length);

        public bool HasEscapes { get; private set; }

        public void Clear()
        {
            _length = 0;
            HasEscapes = false;
        }

        public void SetRelative(string path, bool directory)
        {
            Clear();
            Append("./"u8);
            AppendName(path);
            if (directory && path.Length > 0) Append("/"u8);
        }

        public void SetRaw(string text)
        {
            Clear();
            AppendName(text);
        }

        public void SetPaxHeaderName(ReadOnlySpan<byte> entryName)
        {
            Clear();
            Append("./PaxHeaders/"u8);
            Append(Cut(BaseName(entryName), TarHeader.FieldLengths.Name - _length));
        }

        public void SetSparseStandIn(ReadOnlySpan<byte> entryName)
        {
            Clear();
            var baseName = BaseName(entryName);
            Append(entryName[..(entryName.Length - baseName.Length)]);
            Append("GNUSparseFile.0/"u8);
            Append(baseName);
        }

        private static ReadOnlySpan<byte> BaseName(ReadOnlySpan<byte> name)
        {
            var n = name.Length > 0 && name[^1] == '/' ? name[..^1] : name;
            return n[(n.LastIndexOf((byte)'/') + 1)..];
        }

        /// <summary>At most <paramref name="max"/> bytes, not splitting a UTF-8 sequence.</summary>
        private static ReadOnlySpan<byte> Cut(ReadOnlySpan<byte> s, int max)
        {
            if (s.Length <= max) return s;
            int n = max;
            while (n > 0 && (s[n] & 0xC0) == 0x80) n--;
            return s[..n];
        }

        private void AppendName(string s)
        {
            if (FileNameEncoding.HasEscapes(s))
            {
                HasEscapes = true;
                Append(FileNameEncoding.GetBytes(s));
                return;
            }
            int max = System.Text.Encoding.UTF8.GetMaxByteCount(s.Length);
            Ensure(max);
            _length += System.Text.Encoding.UTF8.GetBytes(s, _buffer.AsSpan(_length));
        }

        private void Append(ReadOnlySpan<byte> bytes)
        {
            Ensure(bytes.Length);
            bytes.CopyTo(_buffer.AsSpan(_length));
            _length += bytes.Length;
        }

        private void Ensure(int extra)
        {
            if (_length + extra > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + extra));
        }
    }
}
