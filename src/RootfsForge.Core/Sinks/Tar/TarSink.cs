using RootfsForge.Tar;
using System.Buffers;
using System.Buffers.Text;
using RootfsForge.IO;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Tar;

/// <summary>
/// Writes a tree as a POSIX pax tar archive (ustar headers with magic <c>"ustar\0"</c> <c>"00"</c>), deterministically:
/// entries in the order given, names <c>./etc/passwd</c> (the root as <c>./</c>), numeric ids with empty user/group
/// names, no atime/ctime records, pax header names derived from the entry name only. Long or non-UTF-8 names, large
/// ids/sizes and sub-second mtimes go to pax records; xattrs to <c>SCHILY.xattr.*</c>; files with holes to GNU sparse 1.0.
/// Sockets are skipped and counted. Symlink targets end at their first NUL, as the kernel reads them; an empty target
/// is kept with a warning (extractors cannot create it; the directory sink skips it).
/// </summary>
public sealed class TarSink : TreeSink
{
    private const int CopyBufferSize = 1 << 20;
    private const int OutputBufferSize = 1 << 20;

    private readonly TarSinkOptions _options;
    private readonly AtomicFile? _file;
    private readonly Stream _destination;
    private readonly bool _leaveOpen;
    private readonly Stream? _compressor;
    private readonly BufferedStream _out;
    private readonly byte[] _header = new byte[TarHeader.BlockSize];
    private readonly PaxRecordWriter _pax = new();
    private readonly NameBuilder _name = new();
    private readonly NameBuilder _link = new();
    private readonly NameBuilder _scratch = new();
    private byte[]? _copyBuffer;
    private bool _completed;
    private bool _failed;

    /// <summary>Writes the archive to <paramref name="output"/> (compressed per <paramref name="options"/>).</summary>
    /// <param name="output">The destination; written sequentially.</param>
    /// <param name="options">Options; <c>null</c> for defaults (uncompressed).</param>
    /// <param name="leaveOpen">Leave <paramref name="output"/> open after <see cref="Complete"/> or disposal.</param>
    public TarSink(Stream output, TarSinkOptions? options = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(output);
        _options = options ?? new TarSinkOptions();
        _destination = output;
        _leaveOpen = leaveOpen;
        int threads = Math.Max(1, _options.CompressionThreads ?? Environment.ProcessorCount);
        switch (_options.Compression)
        {
            case TarCompression.Gzip:
                _compressor = new ParallelGzipStream(output, _options.CompressionLevel ?? 6, threads, leaveOpen: true);
                break;
            case TarCompression.Zstd:
                var z = new ZstdSharp.CompressionStream(output, _options.CompressionLevel ?? 3, OutputBufferSize, leaveOpen: true);
                // Always at least one worker: compression then runs off the walking thread, and zstd's multi-threaded
                // output does not depend on the worker count, so archives are identical on any machine.
                z.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_nbWorkers, threads);
                _compressor = z;
                break;
        }
        _out = new BufferedStream(_compressor ?? output, OutputBufferSize);
    }

    private TarSink(AtomicFile file, TarSinkOptions? options)
        : this(file.Stream, options, leaveOpen: true)
    {
        _file = file;
    }

    /// <summary>
    /// Writes the archive to the file <paramref name="path"/> through a temporary name; the file appears only when
    /// <see cref="Complete"/> succeeds.
    /// </summary>
    public static TarSink CreateFile(string path, TarSinkOptions? options = null)
    {
        var file = new AtomicFile(path);
        try
        {
            return new TarSink(file, options);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public override void Add(TreeEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ObjectDisposedException.ThrowIf(_completed, this);
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            AddCore(entry);
        }
        catch
        {
            _failed = true;
            throw;
        }
    }

    /// <inheritdoc />
    public override void Complete(CancellationToken cancellationToken = default)
    {
        if (_completed) return;
        if (_failed) throw new InvalidOperationException("the tar sink failed earlier; its output was discarded");
        cancellationToken.ThrowIfCancellationRequested();
        // End of archive: two zero blocks.
        Array.Clear(_header);
        _out.Write(_header);
        _out.Write(_header);
        _out.Flush();
        switch (_compressor)
        {
            case ParallelGzipStream gz:
                gz.Finish();
                break;
            case not null:
                _compressor.Dispose();
                break;
        }
        if (_file is not null)
        {
            _file.Commit();
            _file.Dispose();
        }
        else
        {
            _destination.Flush();
            if (!_leaveOpen) _destination.Dispose();
        }
        _completed = true;
        ReturnBuffer();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_completed)
        {
            _completed = true;
            try
            {
                _compressor?.Dispose();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
            {
            }
            _file?.Dispose();
            if (_file is null && !_leaveOpen) _destination.Dispose();
            ReturnBuffer();
        }
        base.Dispose(disposing);
    }

    private void ReturnBuffer()
    {
        if (_copyBuffer is not null) ArrayPool<byte>.Shared.Return(_copyBuffer);
        _copyBuffer = null;
    }

    private void AddCore(TreeEntry entry)
    {
        if (entry.Type == EntryType.Socket)
        {
            Statistics.AddSkippedSocket();
            return;
        }
        ValidatePath(entry.Path, "entry path");
        _pax.Clear();
        bool binary = false;

        // Names: "./" + path, directories with a trailing '/', the root as "./".
        _name.SetRelative(entry.Path, entry.Type == EntryType.Directory);
        binary |= _name.HasEscapes;

        byte typeFlag;
        long size = 0;
        FileContent? content = null;
        IReadOnlyList<DataSegment>? sparse = null;
        _link.Clear();
        switch (entry.Type)
        {
            case EntryType.Directory:
                typeFlag = TarHeader.TypeFlags.Directory;
                break;
            case EntryType.RegularFile:
                typeFlag = TarHeader.TypeFlags.RegularFile;
                content = entry.OpenContent?.Invoke()
                    ?? throw new ArgumentException($"regular file '{entry.Path}' has no content", nameof(entry));
                size = content.Length;
                var segments = content.GetDataSegments();
                long data = 0;
                for (int i = 0; i < segments.Count; i++) data += segments[i].Length;
                if (data < size) sparse = segments;
                break;
            case EntryType.HardLink:
                typeFlag = TarHeader.TypeFlags.HardLink;
                ValidatePath(entry.LinkTarget ?? "", "hard link target");
                if (string.IsNullOrEmpty(entry.LinkTarget))
                    throw new ImageFormatException($"hard link '{entry.Path}' has no target", "tree entry");
                _link.SetRelative(entry.LinkTarget, false);
                break;
            case EntryType.SymbolicLink:
                typeFlag = TarHeader.TypeFlags.SymbolicLink;
                // The target as the kernel reads it (up to the first NUL), like the directory sink. An empty one is kept:
                // tar holds an empty linkname and the archive stays faithful to the image, but extractors cannot create
                // such a link (symlink(2) fails with ENOENT), so say so; the directory sink skips it with a warning.
                var linkTarget = SymlinkTargets.AsKernelReadsIt(entry.LinkTarget, out bool truncated);
                if (linkTarget.Length == 0)
                    Statistics.Warnings.Add($"'{entry.Path}': symlink with empty target kept; extracting it will fail");
                else if (truncated)
                    Statistics.Warnings.Add(SymlinkTargets.TruncatedWarning(entry.Path));
                _link.SetRaw(linkTarget);
                break;
            case EntryType.CharacterDevice:
                typeFlag = TarHeader.TypeFlags.CharacterDevice;
                break;
            case EntryType.BlockDevice:
                typeFlag = TarHeader.TypeFlags.BlockDevice;
                break;
            case EntryType.Fifo:
                typeFlag = TarHeader.TypeFlags.Fifo;
                break;
            default:
                throw new ArgumentException($"unknown entry type {entry.Type} for '{entry.Path}'", nameof(entry));
        }
        binary |= _link.HasEscapes;

        try
        {
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
                    Statistics.AddDroppedAttributes(1);
                    Statistics.Warnings.Add($"'{entry.Path}': xattr '{xattr.Name}' not stored: a pax record name cannot hold '=' or be empty");
                    continue;
                }
                _pax.Add("SCHILY.xattr." + xattr.Name, xattr.Value);
            }

            if (_pax.Length > 0) WritePaxHeader(mtimeField);
            long uid = TarHeader.FitsOctal(entry.Uid, TarHeader.FieldLengths.Uid) ? entry.Uid : 0;
            long gid = TarHeader.FitsOctal(entry.Gid, TarHeader.FieldLengths.Gid) ? entry.Gid : 0;
            long sizeField = TarHeader.FitsOctal(headerSize, TarHeader.FieldLengths.Size) ? headerSize : 0;
            uint devMajor = TarHeader.FitsOctal(entry.DeviceMajor, TarHeader.FieldLengths.DevMajor) ? entry.DeviceMajor : 0;
            uint devMinor = TarHeader.FitsOctal(entry.DeviceMinor, TarHeader.FieldLengths.DevMinor) ? entry.DeviceMinor : 0;
            TarHeader.WriteUstar(_header, headerName, entry.Permissions, uid, gid, sizeField, mtimeField, typeFlag,
                _link.Bytes, devMajor, devMinor);
            _out.Write(_header);

            if (content is not null)
            {
                if (sparseMap is not null)
                {
                    _out.Write(sparseMap);
                    long written = 0;
                    for (int i = 0; i < sparse!.Count; i++)
                    {
                        CopyContent(content, sparse[i].Offset, sparse[i].Length, entry.Path);
                        written += sparse[i].Length;
                    }
                    Pad(sparseMap.Length + written);
                }
                else
                {
                    CopyContent(content, 0, size, entry.Path);
                    Pad(size);
                }
            }
        }
        finally
        {
            content?.Dispose();
        }
        Statistics.AddEntry();
    }

    /// <summary>Adds hdrcharset/uid/gid/size/mtime records as needed; returns the header's mtime field value.</summary>
    private long WriteCommonRecords(TreeEntry entry, bool binary, long size)
    {
        if (binary) _pax.Add("hdrcharset"u8, "BINARY"u8);
        if (!TarHeader.FitsOctal(entry.Uid, TarHeader.FieldLengths.Uid)) _pax.Add("uid"u8, entry.Uid);
        if (!TarHeader.FitsOctal(entry.Gid, TarHeader.FieldLengths.Gid)) _pax.Add("gid"u8, entry.Gid);
        if (!TarHeader.FitsOctal(size, TarHeader.FieldLengths.Size)) _pax.Add("size"u8, size);
        var mtime = entry.ModificationTime;
        if (_options.MtimeClamp is { } clamp) mtime = mtime.ClampTo(clamp);
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

    private void WritePaxHeader(long mtimeField)
    {
        // Deterministic name: "./PaxHeaders/<base name>" (no pid, unlike GNU tar's default %d/PaxHeaders.%p/%f).
        _scratch.SetPaxHeaderName(_name.Bytes);
        TarHeader.WriteUstar(_header, _scratch.Bytes, 0x1A4, 0, 0, _pax.Length, mtimeField, TarHeader.TypeFlags.PaxExtended,
            default, 0, 0);
        _out.Write(_header);
        _out.Write(_pax.Written);
        Pad(_pax.Length);
    }

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
        int len = text.Length;
        var map = new byte[(len + TarHeader.BlockSize - 1) / TarHeader.BlockSize * TarHeader.BlockSize];
        System.Text.Encoding.ASCII.GetBytes(text.ToString(), map);
        // Write only the segments that carry data (the trailing empty one has nothing to copy).
        return map;
    }

    private void CopyContent(FileContent content, long offset, long length, string path)
    {
        if (length <= 0) return;
        _copyBuffer ??= ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        content.Prefetch(offset, length);
        long done = 0;
        while (done < length)
        {
            int n = (int)Math.Min(_copyBuffer.Length, length - done);
            var span = _copyBuffer.AsSpan(0, n);
            try
            {
                content.ReadExactlyAt(offset + done, span);
            }
            catch (EndOfStreamException e)
            {
                throw new IOException($"content of '{path}' ended early: {e.Message}", e);
            }
            _out.Write(span);
            done += n;
            Statistics.AddContentBytes(n);
        }
    }

    private void Pad(long written)
    {
        int rem = (int)(written % TarHeader.BlockSize);
        if (rem == 0) return;
        Array.Clear(_header);
        _out.Write(_header, 0, TarHeader.BlockSize - rem);
    }

    private static void ValidatePath(string path, string what)
    {
        if (path.StartsWith('/')) throw new ImageFormatException($"{what} '{path}' is absolute", "tree entry");
        var rest = path.AsSpan();
        while (true)
        {
            int slash = rest.IndexOf('/');
            if ((slash < 0 ? rest : rest[..slash]) is "..")
                throw new ImageFormatException($"{what} '{path}' contains '..'", "tree entry");
            if (slash < 0) return;
            rest = rest[(slash + 1)..];
        }
    }

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
