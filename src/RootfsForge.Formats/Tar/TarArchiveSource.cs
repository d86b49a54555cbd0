using System.Buffers;
using System.IO.Compression;
using System.Text;
using Microsoft.Win32.SafeHandles;
using RootfsForge.Tree;

namespace RootfsForge.Tar;

/// <summary>
/// Reads a tar archive as a tree: ustar, POSIX pax (long names, <c>hdrcharset=BINARY</c>, large ids and sizes, ns times,
/// <c>SCHILY.xattr.*</c> and <c>LIBARCHIVE.xattr.*</c>) and GNU (long names <c>L</c>/<c>K</c>, base-256 numbers, old sparse
/// <c>S</c>, pax sparse 0.0, 0.1 and 1.0), plain, gzip or zstd (detected by magic).
/// </summary>
/// <remarks>
/// <para>Metadata of all entries is collected first (memory grows with the entry count, never with content) and emitted
/// in <see cref="ITreeSource.WalkAsync"/> order: parents first, children sorted by name bytes. Missing parent directories are
/// synthesized (0755, root-owned, time 0) and reported; a later entry with the same name replaces an earlier one, as
/// extraction would. Hard links are re-pointed so that the first name emitted holds the content.</para>
/// <para>An uncompressed archive file is read in place; compressed archives and streams are first decompressed to an
/// unlinked temporary file, so file content can be served at random offsets. Content readers stay valid until the
/// source is disposed. Names with <c>..</c> components are refused with <see cref="ImageFormatException"/>; absolute
/// names are made relative (with a warning). Multi-volume archives are not supported.</para>
/// </remarks>
public sealed class TarArchiveSource : ITreeSource, IDisposable
{
    private const int MaxPaxHeaderSize = 64 << 20;
    private const int MaxLongNameSize = 1 << 20;

    private readonly TarArchiveSourceOptions _options;
    private readonly SafeFileHandle _handle;
    private readonly long _baseOffset;
    private readonly long _length;
    private readonly string _description;
    private readonly List<string> _warnings = [];
    private Node? _root;
    private bool _disposed;

    /// <summary>Opens the archive file <paramref name="path"/>.</summary>
    public TarArchiveSource(string path, TarArchiveSourceOptions? options = null)
    {
        _options = options ?? new TarArchiveSourceOptions();
        _description = path;
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            Span<byte> magic = stackalloc byte[4];
            int n = RandomAccess.Read(handle, magic, 0);
            var kind = Detect(magic[..n]);
            if (kind == Compression.None)
            {
                _handle = handle;
                _length = RandomAccess.GetLength(handle);
                return;
            }
            using (var fs = new FileStream(handle, FileAccess.Read, 1 << 16))
                (_handle, _length) = Spool(Decompress(fs, kind));
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads an archive from a stream (decompressed into an unlinked temporary file first).</summary>
    public TarArchiveSource(Stream stream, TarArchiveSourceOptions? options = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _options = options ?? new TarArchiveSourceOptions();
        _description = "tar stream";
        try
        {
            var magic = new byte[4];
            int n = stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
            var kind = Detect(magic.AsSpan(0, n));
            var whole = new PrefixedStream(magic.AsMemory(0, n), stream);
            (_handle, _length) = Spool(kind == Compression.None ? whole : Decompress(whole, kind));
        }
        finally
        {
            if (!leaveOpen) stream.Dispose();
        }
        _baseOffset = 0;
    }

    /// <inheritdoc />
    public IReadOnlyList<string> Warnings => _warnings;

    /// <inheritdoc />
    public async IAsyncEnumerable<TreeEntry> WalkAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var entry in Walk(cancellationToken)) yield return entry;
        await Task.CompletedTask.ConfigureAwait(false);
    }

    internal IEnumerable<TreeEntry> Walk(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _root ??= Parse(cancellationToken);
        var firstPath = new Dictionary<Inode, string>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Node Node, int Index, Node[] Children)>();
        yield return MakeEntry(_root, firstPath);
        stack.Push((_root, 0, SortedChildren(_root)));
        while (stack.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (node, index, children) = stack.Pop();
            if (index >= children.Length) continue;
            stack.Push((node, index + 1, children));
            var child = children[index];
            yield return MakeEntry(child, firstPath);
            if (child.Inode.Type == EntryType.Directory) stack.Push((child, 0, SortedChildren(child)));
        }
    }

    /// <summary>Closes the archive (and deletes the temporary copy); content readers stop working.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _handle.Dispose();
    }

    private static Node[] SortedChildren(Node n)
    {
        if (n.Children is null || n.Children.Count == 0) return [];
        var arr = n.Children.Values.ToArray();
        Array.Sort(arr, (a, b) => a.NameBytes.AsSpan().SequenceCompareTo(b.NameBytes));
        return arr;
    }

    private TreeEntry MakeEntry(Node node, Dictionary<Inode, string> firstPath)
    {
        var i = node.Inode;
        bool isFile = i.Type == EntryType.RegularFile;
        Func<FileContent>? open = isFile ? () => new ArchiveFileContent(this, i) : null;
        if (i.Type != EntryType.Directory)
        {
            if (firstPath.TryGetValue(i, out var first))
            {
                return new TreeEntry
                {
                    Path = node.Path, Type = EntryType.HardLink, LinkTarget = first, Permissions = i.Permissions,
                    Uid = i.Uid, Gid = i.Gid, ModificationTime = i.MTime, AccessTime = i.ATime, ChangeTime = i.CTime,
                    Size = isFile ? i.RealSize : 0, InodeId = i.Id, ExtendedAttributes = i.Xattrs, OpenContent = open,
                };
            }
            firstPath[i] = node.Path;
        }
        return new TreeEntry
        {
            Path = node.Path, Type = i.Type, Permissions = i.Permissions, Uid = i.Uid, Gid = i.Gid,
            ModificationTime = i.MTime, AccessTime = i.ATime, ChangeTime = i.CTime,
            Size = isFile ? i.RealSize : i.Type == EntryType.SymbolicLink ? FileNameEncoding.GetBytes(i.LinkTarget!).Length : 0,
            DeviceMajor = i.DevMajor, DeviceMinor = i.DevMinor, LinkTarget = i.Type == EntryType.SymbolicLink ? i.LinkTarget : null,
            InodeId = i.Id, ExtendedAttributes = i.Xattrs, OpenContent = open,
        };
    }

    // ---------------------------------------------------------------- parsing

    private Node Parse(CancellationToken cancellationToken)
    {
        var root = new Node("", [], Inode.SynthesizedDirectory(0));
        root.Synthesized = true;
        var block = new byte[TarHeader.BlockSize];
        var pax = new List<KeyValuePair<string, byte[]>>();
        var global = new List<KeyValuePair<string, byte[]>>();
        byte[]? longName = null, longLink = null;
        long pos = 0, entries = 0, nextId = 1;
        bool warnedAbsolute = false;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (pos + TarHeader.BlockSize > _length)
            {
                if (pos == _length) _warnings.Add("archive ends without the two zero blocks");
                else throw Error("archive is truncated inside a header", "tar header", pos);
                break;
            }
            ReadExactly(pos, block);
            if (TarHeader.IsZeroBlock(block)) break;
            var h = TarHeader.Read(block, _baseOffset + pos);
            long dataStart = pos + TarHeader.BlockSize;
            long size = h.Size;
            switch (h.TypeFlag)
            {
                case TarHeader.TypeFlags.PaxExtended:
                case TarHeader.TypeFlags.PaxGlobal:
                {
                    if (size > MaxPaxHeaderSize) throw Error($"pax header of {size} bytes is too large", "pax header", pos);
                    var data = ReadData(dataStart, (int)size, pos);
                    TarHeader.ReadPaxRecords(data, h.TypeFlag == TarHeader.TypeFlags.PaxGlobal ? global : pax, _baseOffset + dataStart);
                    pos = Next(dataStart, size, pos);
                    continue;
                }
                case TarHeader.TypeFlags.GnuLongName:
                case TarHeader.TypeFlags.GnuLongLink:
                {
                    if (size > MaxLongNameSize) throw Error($"GNU long name of {size} bytes is too large", "tar header", pos);
                    var data = ReadData(dataStart, (int)size, pos);
                    int end = data.AsSpan().IndexOf((byte)0);
                    var value = end < 0 ? data : data[..end];
                    if (h.TypeFlag == TarHeader.TypeFlags.GnuLongName) longName = value;
                    else longLink = value;
                    pos = Next(dataStart, size, pos);
                    continue;
                }
            }

            if (++entries > _options.MaxEntries) throw Error($"more than {_options.MaxEntries} entries", "tar archive", pos);
            var records = global.Count == 0 ? pax : [.. global, .. pax];
            var inode = new Inode { Id = nextId++, Permissions = h.Mode, Uid = (uint)h.Uid, Gid = (uint)h.Gid, MTime = new UnixTime(h.MTime, 0) };
            byte[] nameBytes = longName ?? (h.Prefix.Length > 0 ? [.. h.Prefix, (byte)'/', .. h.Name] : h.Name);
            byte[] linkBytes = longLink ?? h.LinkName;
            string? sparseMajor = null, sparseMinor = null, sparseMap01 = null;
            long? realSize = null;
            var sparse00 = new List<long>();
            uint? paxMajor = null, paxMinor = null;
            var xattrs = new List<ExtendedAttribute>();
            foreach (var (key, value) in records)
            {
                switch (key)
                {
                    case "path": nameBytes = value; break;
                    case "linkpath": linkBytes = value; break;
                    case "size": size = PaxLong(value, key, pos); break;
                    case "uid": inode.Uid = (uint)PaxLong(value, key, pos); break;
                    case "gid": inode.Gid = (uint)PaxLong(value, key, pos); break;
                    case "mtime": inode.MTime = PaxTime(value, pos); break;
                    case "atime": inode.ATime = PaxTime(value, pos); break;
                    case "ctime": inode.CTime = PaxTime(value, pos); break;
                    case "GNU.sparse.name": nameBytes = value; break;
                    case "GNU.sparse.major": sparseMajor = Encoding.ASCII.GetString(value); break;
                    case "GNU.sparse.minor": sparseMinor = Encoding.ASCII.GetString(value); break;
                    case "GNU.sparse.realsize":
                    case "GNU.sparse.size": realSize = PaxLong(value, key, pos); break;
                    case "GNU.sparse.map": sparseMap01 = Encoding.ASCII.GetString(value); break;
                    case "GNU.sparse.offset":
                    case "GNU.sparse.numbytes": sparse00.Add(PaxLong(value, key, pos)); break;
                    case "SCHILY.devmajor": paxMajor = (uint)PaxLong(value, key, pos); break;
                    case "SCHILY.devminor": paxMinor = (uint)PaxLong(value, key, pos); break;
                    default:
                        if (key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
                            AddXattr(xattrs, key["SCHILY.xattr.".Length..], value);
                        else if (key.StartsWith("LIBARCHIVE.xattr.", StringComparison.Ordinal))
                            AddXattr(xattrs, Uri.UnescapeDataString(key["LIBARCHIVE.xattr.".Length..]), DecodeBase64(value, pos));
                        break;
                }
            }
            if (inode.ATime == default) inode.ATime = inode.MTime;
            if (inode.CTime == default) inode.CTime = inode.MTime;
            xattrs.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            inode.Xattrs = xattrs;
            pax.Clear();
            longName = longLink = null;

            bool hasData;
            switch (h.TypeFlag)
            {
                case TarHeader.TypeFlags.RegularFile:
                case TarHeader.TypeFlags.OldRegularFile:
                case TarHeader.TypeFlags.Contiguous:
                case TarHeader.TypeFlags.GnuSparse:
                    hasData = true;
                    inode.Type = h.TypeFlag == TarHeader.TypeFlags.OldRegularFile && nameBytes.Length > 0 && nameBytes[^1] == '/'
                        ? EntryType.Directory : EntryType.RegularFile;
                    break;
                case TarHeader.TypeFlags.HardLink: hasData = false; inode.Type = EntryType.HardLink; break;
                case TarHeader.TypeFlags.SymbolicLink: hasData = false; inode.Type = EntryType.SymbolicLink; break;
                case TarHeader.TypeFlags.CharacterDevice: hasData = false; inode.Type = EntryType.CharacterDevice; break;
                case TarHeader.TypeFlags.BlockDevice: hasData = false; inode.Type = EntryType.BlockDevice; break;
                case TarHeader.TypeFlags.Directory: hasData = false; inode.Type = EntryType.Directory; break;
                case TarHeader.TypeFlags.Fifo: hasData = false; inode.Type = EntryType.Fifo; break;
                case TarHeader.TypeFlags.GnuDirectoryDump: hasData = true; inode.Type = EntryType.Directory; break;
                case (byte)'M':
                    throw new UnsupportedImageException("multi-volume tar archives are not supported", "tar header", _baseOffset + pos);
                default:
                    _warnings.Add($"skipped entry of unknown type '{(char)h.TypeFlag}' at offset {pos}");
                    pos = Next(dataStart, size, pos);
                    continue;
            }
            if (inode.Type is EntryType.CharacterDevice or EntryType.BlockDevice)
            {
                inode.DevMajor = paxMajor ?? (uint)h.DevMajor;
                inode.DevMinor = paxMinor ?? (uint)h.DevMinor;
            }

            long afterExtensions = dataStart;
            if (inode.Type == EntryType.RegularFile)
            {
                inode.DataOffset = dataStart;
                inode.DataLength = size;
                inode.RealSize = size;
                if (h.TypeFlag == TarHeader.TypeFlags.GnuSparse)
                {
                    afterExtensions = ReadOldGnuSparse(block, dataStart, inode, pos);
                    inode.DataOffset = afterExtensions;
                }
                else if (sparseMajor == "1" && sparseMinor == "0")
                {
                    ReadSparse10(inode, realSize ?? throw Error("GNU sparse 1.0 entry without GNU.sparse.realsize", "pax header", pos), pos);
                }
                else if (sparseMap01 is not null)
                {
                    var numbers = sparseMap01.Length == 0 ? [] : sparseMap01.Split(',').Select(s => ParseDecimal(s, "GNU.sparse.map", pos)).ToList();
                    SetSparse(inode, numbers, realSize ?? throw Error("GNU sparse 0.1 entry without GNU.sparse.size", "pax header", pos), pos);
                }
                else if (sparse00.Count > 0)
                {
                    SetSparse(inode, sparse00, realSize ?? throw Error("GNU sparse 0.0 entry without GNU.sparse.size", "pax header", pos), pos);
                }
            }
            if (hasData)
            {
                if (afterExtensions + size > _length || size < 0)
                    throw Error($"entry data of {size} bytes runs past the end of the archive", "tar entry", pos);
                pos = Next(afterExtensions, size, pos);
            }
            else
            {
                pos = dataStart;
            }

            var path = Normalize(nameBytes, pos, ref warnedAbsolute);
            if (inode.Type == EntryType.HardLink)
            {
                var target = Normalize(linkBytes, pos, ref warnedAbsolute);
                var targetNode = Find(root, target);
                if (targetNode is null || targetNode.Inode.Type == EntryType.Directory)
                {
                    _warnings.Add($"hard link '{path}' points at '{target}', which is not an earlier non-directory entry; skipped");
                    continue;
                }
                Insert(root, path, targetNode.Inode);
                continue;
            }
            if (inode.Type == EntryType.SymbolicLink) inode.LinkTarget = FileNameEncoding.GetString(linkBytes);
            Insert(root, path, inode);
        }
        return root;
    }

    private long Next(long dataStart, long size, long headerPos)
    {
        long next = dataStart + (size + TarHeader.BlockSize - 1) / TarHeader.BlockSize * TarHeader.BlockSize;
        if (size < 0 || next > _length + TarHeader.BlockSize || next <= headerPos)
            throw Error($"entry size {size} runs past the end of the archive", "tar header", headerPos);
        return next;
    }

    private void Insert(Node root, string path, Inode inode)
    {
        if (path.Length == 0)
        {
            if (inode.Type == EntryType.Directory)
            {
                root.Inode = inode;
                root.Synthesized = false;
            }
            else
            {
                _warnings.Add("an entry for the archive root is not a directory; ignored");
            }
            return;
        }
        var parts = path.Split('/');
        var dir = root;
        string soFar = "";
        for (int i = 0; i < parts.Length - 1; i++)
        {
            soFar = soFar.Length == 0 ? parts[i] : soFar + "/" + parts[i];
            dir.Children ??= new Dictionary<string, Node>(StringComparer.Ordinal);
            if (!dir.Children.TryGetValue(parts[i], out var next))
            {
                next = new Node(soFar, FileNameEncoding.GetBytes(parts[i]), Inode.SynthesizedDirectory(0)) { Synthesized = true };
                dir.Children[parts[i]] = next;
                _warnings.Add($"directory '{soFar}' is missing from the archive; created with mode 0755");
            }
            else if (next.Inode.Type != EntryType.Directory)
            {
                _warnings.Add($"'{path}' lies under '{soFar}', which is not a directory; skipped");
                return;
            }
            dir = next;
        }
        var name = parts[^1];
        dir.Children ??= new Dictionary<string, Node>(StringComparer.Ordinal);
        if (dir.Children.TryGetValue(name, out var existing))
        {
            if (existing.Synthesized && inode.Type == EntryType.Directory)
            {
                _warnings.RemoveAll(w => w.StartsWith($"directory '{path}' is missing", StringComparison.Ordinal));
            }
            if (existing.Inode.Type == EntryType.Directory && inode.Type != EntryType.Directory && existing.Children is { Count: > 0 })
                _warnings.Add($"directory '{path}' is replaced by a later non-directory entry; its contents are dropped");
            existing.Inode = inode;
            existing.Synthesized = false;
            if (inode.Type != EntryType.Directory) existing.Children = null;
            return;
        }
        dir.Children[name] = new Node(path, FileNameEncoding.GetBytes(name), inode);
    }

    private static Node? Find(Node root, string path)
    {
        if (path.Length == 0) return root;
        var node = root;
        foreach (var part in path.Split('/'))
        {
            if (node.Children is null || !node.Children.TryGetValue(part, out var next)) return null;
            node = next;
        }
        return node;
    }

    private string Normalize(byte[] raw, long pos, ref bool warnedAbsolute)
    {
        var parts = new List<string>();
        var span = raw.AsSpan();
        if (span.Length > 0 && span[0] == '/' && !warnedAbsolute)
        {
            _warnings.Add("absolute names were made relative");
            warnedAbsolute = true;
        }
        while (span.Length > 0)
        {
            int slash = span.IndexOf((byte)'/');
            var c = slash < 0 ? span : span[..slash];
            span = slash < 0 ? [] : span[(slash + 1)..];
            if (c.Length == 0 || c.SequenceEqual("."u8)) continue;
            if (c.SequenceEqual(".."u8))
                throw Error($"entry name '{FileNameEncoding.GetString(raw)}' contains '..'", "tar entry name", pos);
            parts.Add(FileNameEncoding.GetString(c));
        }
        return string.Join('/', parts);
    }

    private long ReadOldGnuSparse(byte[] header, long dataStart, Inode inode, long pos)
    {
        // Old GNU format: 4 (offset, numbytes) pairs in the header, then 512-byte extension blocks of 21 pairs while
        // the "isextended" byte is set; realsize at offset 483.
        var numbers = new List<long>();
        ReadPairs(header.AsSpan(TarHeader.FieldLocations.GnuSparse), TarHeader.FieldLengths.GnuSparseEntriesInHeader, numbers, pos);
        bool extended = header[TarHeader.FieldLocations.GnuIsExtended] != 0;
        long realSize = TarHeader.ParseNumber(header.AsSpan(TarHeader.FieldLocations.GnuRealSize, TarHeader.FieldLengths.GnuRealSize), "realsize", pos);
        var ext = new byte[TarHeader.BlockSize];
        long at = dataStart;
        int blocks = 0;
        while (extended)
        {
            if (++blocks > 1_000_000 || at + TarHeader.BlockSize > _length) throw Error("GNU sparse extension blocks run past the end", "tar header", pos);
            ReadExactly(at, ext);
            ReadPairs(ext, TarHeader.FieldLengths.GnuSparseEntriesInExtension, numbers, at);
            extended = ext[TarHeader.FieldLengths.GnuSparseEntriesInExtension * TarHeader.FieldLengths.GnuSparseEntry] != 0;
            at += TarHeader.BlockSize;
        }
        inode.DataOffset = at;
        SetSparse(inode, numbers, realSize, pos);
        return at;
    }

    private static void ReadPairs(ReadOnlySpan<byte> area, int count, List<long> numbers, long pos)
    {
        for (int i = 0; i < count; i++)
        {
            var e = area.Slice(i * TarHeader.FieldLengths.GnuSparseEntry, TarHeader.FieldLengths.GnuSparseEntry);
            if (e[0] == 0) break;
            numbers.Add(TarHeader.ParseNumber(e[..12], "sparse offset", pos));
            numbers.Add(TarHeader.ParseNumber(e[12..], "sparse numbytes", pos));
        }
    }

    private void ReadSparse10(Inode inode, long realSize, long pos)
    {
        // GNU sparse 1.0: the data area starts with decimal numbers, one per line: count, then offset/size pairs; the
        // map is padded to a 512 boundary and followed by the segments' data.
        var reader = new MapReader(this, inode.DataOffset, inode.DataLength, pos);
        long count = reader.Next();
        if (count < 0 || count > inode.DataLength / 4 + 1) throw Error($"GNU sparse map has an invalid count {count}", "sparse map", pos);
        var numbers = new List<long>((int)Math.Min(count * 2, 1 << 20));
        for (long i = 0; i < count * 2; i++) numbers.Add(reader.Next());
        long mapBytes = (reader.Consumed + TarHeader.BlockSize - 1) / TarHeader.BlockSize * TarHeader.BlockSize;
        inode.DataOffset += mapBytes;
        inode.DataLength -= mapBytes;
        SetSparse(inode, numbers, realSize, pos);
    }

    private void SetSparse(Inode inode, List<long> numbers, long realSize, long pos)
    {
        if (numbers.Count % 2 != 0) throw Error("GNU sparse map has an odd number of values", "sparse map", pos);
        var segments = new List<DataSegment>(numbers.Count / 2);
        long end = 0, total = 0;
        for (int i = 0; i < numbers.Count; i += 2)
        {
            long off = numbers[i], len = numbers[i + 1];
            if (off < end || len < 0 || off > realSize || len > realSize - off)
                throw Error($"GNU sparse segment [{off}, +{len}) is out of order or past the size {realSize}", "sparse map", pos);
            if (len == 0) continue;
            segments.Add(new DataSegment(off, len));
            end = off + len;
            total += len;
        }
        if (total > inode.DataLength)
            throw Error($"GNU sparse map describes {total} bytes but the entry holds {inode.DataLength}", "sparse map", pos);
        inode.Sparse = segments.ToArray();
        inode.RealSize = realSize;
    }

    private sealed class MapReader(TarArchiveSource source, long start, long length, long pos)
    {
        private readonly byte[] _block = new byte[TarHeader.BlockSize];
        private int _blockIndex = -1;

        public long Consumed { get; private set; }

        public long Next()
        {
            long value = 0;
            int digits = 0;
            while (true)
            {
                if (Consumed >= length) throw source.Error("GNU sparse map runs past the entry data", "sparse map", pos);
                int bi = (int)(Consumed / TarHeader.BlockSize);
                if (bi != _blockIndex)
                {
                    source.ReadExactly(start + (long)bi * TarHeader.BlockSize, _block);
                    _blockIndex = bi;
                }
                byte c = _block[Consumed % TarHeader.BlockSize];
                Consumed++;
                if (c == '\n')
                {
                    if (digits == 0) throw source.Error("empty number in GNU sparse map", "sparse map", pos);
                    return value;
                }
                if (c < '0' || c > '9' || ++digits > 18) throw source.Error("invalid number in GNU sparse map", "sparse map", pos);
                value = value * 10 + (c - '0');
            }
        }
    }

    private static void AddXattr(List<ExtendedAttribute> list, string name, byte[] value)
    {
        if (list.Exists(x => x.Name == name)) return; // SCHILY.xattr wins over LIBARCHIVE.xattr (it comes first)
        list.Add(new ExtendedAttribute(name, value));
    }

    private byte[] DecodeBase64(byte[] value, long pos)
    {
        var text = Encoding.ASCII.GetString(value).TrimEnd('=');
        text = text.PadRight(text.Length + (4 - text.Length % 4) % 4, '=');
        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw Error("LIBARCHIVE.xattr value is not base64", "pax header", pos);
        }
    }

    private long PaxLong(byte[] value, string key, long pos) => ParseDecimal(Encoding.ASCII.GetString(value), key, pos);

    private long ParseDecimal(string s, string key, long pos) =>
        long.TryParse(s, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long v)
            ? v
            : throw Error($"pax record {key}='{s}' is not a number", "pax header", pos);

    /// <summary>Parses a pax time "[-]SECONDS[.FRACTION]" exactly to nanoseconds.</summary>
    private UnixTime PaxTime(byte[] value, long pos)
    {
        var s = Encoding.ASCII.GetString(value);
        bool negative = s.StartsWith('-');
        var body = negative ? s[1..] : s;
        int dot = body.IndexOf('.');
        var whole = dot < 0 ? body : body[..dot];
        var frac = dot < 0 ? "" : body[(dot + 1)..];
        if (whole.Length == 0 || !whole.All(char.IsAsciiDigit) || !frac.All(char.IsAsciiDigit) || whole.Length > 18)
            throw Error($"pax time '{s}' is invalid", "pax header", pos);
        long seconds = long.Parse(whole, System.Globalization.CultureInfo.InvariantCulture);
        long ns = frac.Length == 0 ? 0 : long.Parse(frac.PadRight(9, '0')[..9], System.Globalization.CultureInfo.InvariantCulture);
        if (!negative) return new UnixTime(seconds, (uint)ns);
        return ns == 0 ? new UnixTime(-seconds, 0) : new UnixTime(-seconds - 1, (uint)(1_000_000_000 - ns));
    }

    private byte[] ReadData(long offset, int size, long headerPos)
    {
        if (offset + size > _length) throw Error("entry data runs past the end of the archive", "tar entry", headerPos);
        var data = new byte[size];
        ReadExactly(offset, data);
        return data;
    }

    private void ReadExactly(long offset, Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int n = RandomAccess.Read(_handle, destination[done..], _baseOffset + offset + done);
            if (n <= 0) throw Error("unexpected end of the archive", "tar archive", offset + done);
            done += n;
        }
    }

    private ImageFormatException Error(string message, string structure, long offset) =>
        new(message, structure, _baseOffset + offset) { ImagePath = _description };

    private enum Compression
    {
        None,
        Gzip,
        Zstd,
    }

    private static Compression Detect(ReadOnlySpan<byte> magic) =>
        magic.Length >= 2 && magic[0] == 0x1F && magic[1] == 0x8B ? Compression.Gzip
        : magic.Length >= 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD ? Compression.Zstd
        : Compression.None;

    private static Stream Decompress(Stream s, Compression kind) => kind switch
    {
        Compression.Gzip => new GZipStream(s, CompressionMode.Decompress, leaveOpen: true),
        _ => new ZstdSharp.DecompressionStream(s, leaveOpen: true),
    };

    private (SafeFileHandle Handle, long Length) Spool(Stream source)
    {
        var dir = _options.TemporaryDirectory ?? Path.GetTempPath();
        var path = Path.Combine(dir, $".rootfsforge-tar-{Guid.NewGuid():N}");
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        File.Delete(path); // unlinked while open: nothing is left behind, whatever happens
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            long length = 0;
            int n;
            while ((n = ReadCompressed(source, buffer)) > 0)
            {
                RandomAccess.Write(handle, buffer.AsSpan(0, n), length);
                length += n;
            }
            return (handle, length);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            source.Dispose();
        }
    }

    private int ReadCompressed(Stream source, byte[] buffer)
    {
        try
        {
            return source.Read(buffer, 0, buffer.Length);
        }
        catch (InvalidDataException e)
        {
            throw new ImageFormatException($"compressed data is corrupt: {e.Message}", "tar compression", null, e) { ImagePath = _description };
        }
        catch (ZstdSharp.ZstdException e)
        {
            throw new ImageFormatException($"zstd data is corrupt: {e.Message}", "tar compression", null, e) { ImagePath = _description };
        }
    }

    private sealed class Node(string path, byte[] nameBytes, Inode inode)
    {
        public string Path { get; } = path;
        public byte[] NameBytes { get; } = nameBytes;
        public Inode Inode { get; set; } = inode;
        public Dictionary<string, Node>? Children { get; set; }
        public bool Synthesized { get; set; }
    }

    private sealed class Inode
    {
        public long Id;
        public EntryType Type;
        public int Permissions;
        public uint Uid;
        public uint Gid;
        public UnixTime MTime;
        public UnixTime ATime;
        public UnixTime CTime;
        public string? LinkTarget;
        public uint DevMajor;
        public uint DevMinor;
        public IReadOnlyList<ExtendedAttribute> Xattrs = [];
        public long DataOffset;
        public long DataLength;
        public long RealSize;
        public DataSegment[]? Sparse;

        public static Inode SynthesizedDirectory(long id) => new() { Id = id, Type = EntryType.Directory, Permissions = 0x1ED };
    }

    /// <summary>Content of one archive member: plain, or sparse with its segments stored back to back.</summary>
    private sealed class ArchiveFileContent : FileContent
    {
        private readonly TarArchiveSource _source;
        private readonly Inode _inode;
        private readonly long[]? _archiveOffsets;

        public ArchiveFileContent(TarArchiveSource source, Inode inode)
        {
            ObjectDisposedException.ThrowIf(source._disposed, source);
            _source = source;
            _inode = inode;
            if (inode.Sparse is { } segments)
            {
                _archiveOffsets = new long[segments.Length];
                long at = inode.DataOffset;
                for (int i = 0; i < segments.Length; i++)
                {
                    _archiveOffsets[i] = at;
                    at += segments[i].Length;
                }
            }
        }

        public override long Length => _inode.RealSize;

        public override IReadOnlyList<DataSegment> GetDataSegments() =>
            _inode.Sparse ?? (_inode.RealSize == 0 ? [] : [new DataSegment(0, _inode.RealSize)]);

        public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
            new(ReadAt(offset, destination.Span));

        private int ReadAt(long offset, Span<byte> destination)
        {
            if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
            if (offset >= _inode.RealSize || destination.Length == 0) return 0;
            long remaining = _inode.RealSize - offset;
            if (destination.Length > remaining) destination = destination[..(int)remaining];
            if (_inode.Sparse is not { } segments)
            {
                _source.ReadExactly(_inode.DataOffset + offset, destination);
                return destination.Length;
            }
            // Binary search the last segment starting at or before offset.
            int lo = 0, hi = segments.Length - 1, found = -1;
            while (lo <= hi)
            {
                int mid = (lo + hi) >>> 1;
                if (segments[mid].Offset <= offset)
                {
                    found = mid;
                    lo = mid + 1;
                }
                else
                {
                    hi = mid - 1;
                }
            }
            if (found >= 0 && offset < segments[found].End)
            {
                int n = (int)Math.Min(destination.Length, segments[found].End - offset);
                _source.ReadExactly(_archiveOffsets![found] + (offset - segments[found].Offset), destination[..n]);
                return n;
            }
            long nextStart = found + 1 < segments.Length ? segments[found + 1].Offset : _inode.RealSize;
            int zeros = (int)Math.Min(destination.Length, nextStart - offset);
            destination[..zeros].Clear();
            return zeros;
        }
    }

    /// <summary>Replays bytes already read (the magic) before the rest of a stream.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : Stream
    {
        private ReadOnlyMemory<byte> _prefix = prefix;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_prefix.Length == 0) return rest.Read(buffer);
            int n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
