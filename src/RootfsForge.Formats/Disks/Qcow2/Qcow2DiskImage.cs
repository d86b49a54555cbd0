using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.Win32.SafeHandles;
using RootfsForge.Disks.Qcow2;
using static RootfsForge.Disks.Qcow2.Qcow2FieldLocations;

namespace RootfsForge.Disks;

/// <summary>
/// A qcow2 image (versions 2 and 3) read in-process: deflate and zstd compressed clusters, zero clusters, extended L2
/// entries with subclusters, backing chains and external data files (docs/disk-formats.md §1). Thread-safe; L2 tables
/// and decompressed clusters are cached, and compressed clusters ahead of a sequential reader (or hinted by <see
/// cref="Prefetch"/>) are decoded on the thread pool.
/// </summary>
internal sealed class Qcow2DiskImage : DiskImage
{
    private enum Kind { Normal, Zero, Unallocated, Compressed }

    /// <summary>A run of guest bytes that map the same way (at most up to the end of a cluster or subcluster).</summary>
    private readonly record struct Segment(Kind Kind, long Host, long Length, ulong Descriptor);

    private sealed class L2Table(long offset, ulong[] entries)
    {
        public readonly long Offset = offset;
        public readonly ulong[] Entries = entries;
    }

    private readonly SafeFileHandle _file;
    private readonly long _fileLength;
    private readonly Qcow2Header _header;
    private readonly ulong[] _l1;
    private readonly DiskImage? _backing;
    private readonly SafeFileHandle? _dataFile;
    private readonly long _dataFileLength;
    private readonly DecodedClusterCache _clusters;
    private readonly int _clusterBits;
    private readonly int _clusterSize;
    private readonly int _subclusterBits;
    private readonly long _clusterSpan; // guest bytes covered by one L2 table
    private readonly int _compressedOffsetBits;
    private readonly long _readAheadBytes;
    private readonly int _maxPrefetchClusters;

    private readonly object _l2Lock = new();
    private readonly Dictionary<long, L2Table> _l2Tables = [];
    private readonly int _maxL2Tables;
    private L2Table? _lastL2;
    private long _lastReadEnd = -1;
    private long _readAheadMark;

    private Qcow2DiskImage(string path, string resolvedPath, SafeFileHandle file, long fileLength, Qcow2Header header,
        ulong[] l1, DiskImage? backing, SafeFileHandle? dataFile, long dataFileLength, DiskImageOptions options)
        : base(path, resolvedPath)
    {
        _file = file;
        _fileLength = fileLength;
        _header = header;
        _l1 = l1;
        _backing = backing;
        _dataFile = dataFile;
        _dataFileLength = dataFileLength;
        _clusterBits = header.ClusterBits;
        _clusterSize = header.ClusterSize;
        _subclusterBits = header.ExtendedL2 ? _clusterBits - 5 : _clusterBits;
        _clusterSpan = (long)_clusterSize * header.L2Entries;
        _compressedOffsetBits = 70 - _clusterBits; // docs/disk-formats.md §1.5: x = 62 − (cluster_bits − 8)
        _maxL2Tables = (int)Math.Max(16, (32L << 20) / _clusterSize);
        long budget = Math.Max(options.CacheBytes, 4L * _clusterSize);
        _readAheadBytes = Math.Min((long)Math.Max(0, options.ReadAheadClusters) * _clusterSize, budget / 2);
        _maxPrefetchClusters = (int)Math.Min(4096, budget / _clusterSize);
        _clusters = new DecodedClusterCache(_clusterSize, budget, options.MaxParallelDecompressions, DecodeCompressed);
        if (header.Dirty) AddWarning($"{path}: the dirty bit is set (refcounts may be stale; the data is read as is)");
        if (header.Corrupt) AddWarning($"{path}: the corrupt bit is set (qemu found an inconsistency; data may be damaged)");
    }

    /// <inheritdoc />
    public override string Format => "qcow2";

    /// <inheritdoc />
    public override long Length => _header.Size;

    /// <inheritdoc />
    public override DiskImage? Backing => _backing;

    /// <summary>The qcow2 version, 2 or 3.</summary>
    public int Version => (int)_header.Version;

    /// <summary>The cluster size in bytes (512 B … 2 MiB).</summary>
    public int ClusterSize => _clusterSize;

    /// <summary>The compression used by compressed clusters: <c>deflate</c> or <c>zstd</c>.</summary>
    public string CompressionType => _header.CompressionType == CompressionZstd ? "zstd" : "deflate";

    /// <summary>True when the image uses extended L2 entries (32 subclusters per cluster).</summary>
    public bool HasExtendedL2 => _header.ExtendedL2;

    /// <summary>The external data file holding the guest data as reached (named by the image), or null.</summary>
    public string? ExternalDataFile { get; private init; }

    /// <summary>The backing file name as stored in the header, or null.</summary>
    public string? BackingFileName => _header.BackingFileName;

    /// <summary>The backing format from the header extension (<c>qcow2</c>, <c>raw</c>), or null when it is probed.</summary>
    public string? BackingFormat => _header.BackingFormat;

    internal static Qcow2DiskImage Open(string path, string resolvedPath, SafeFileHandle file, long fileLength,
        DiskImageOptions options, BackingChain chain)
    {
        ImageErrorFactory error = (message, structure, offset, kind) => kind == ImageErrorKind.Unsupported
            ? new UnsupportedImageException(message, structure, offset) { ImagePath = path }
            : new ImageFormatException(message, structure, offset, kind: kind) { ImagePath = path };
        var header = Qcow2Header.Read(file, fileLength, error);
        var l1 = ReadL1(file, fileLength, header, error);
        CheckRefcountTable(file, fileLength, header, error);

        SafeFileHandle? dataFile = null;
        long dataFileLength = 0;
        string? dataPath = null;
        DiskImage? backing = null;
        try
        {
            if (header.ExternalDataFileName is { } dataName && header.HasExternalDataFile)
            {
                const string structure = "qcow2 external data file";
                (dataPath, string resolved) = chain.Resolve(path, dataName, structure, null);
                dataFile = ImageFile.Open(resolved, structure, out dataFileLength);
            }
            if (header.BackingFileName is { } backingName)
            {
                const string structure = "qcow2 backing file";
                string? format = header.BackingFormat;
                if (format is not null && format is not ("qcow2" or "raw"))
                    throw error($"backing file '{backingName}' has format '{format}'; only qcow2 and raw backing files are supported",
                        structure, null, ImageErrorKind.Unsupported);
                var (backingPath, resolved) = chain.Resolve(path, backingName, structure, header.BackingFileNameOffset);
                backing = DiskImage.Open(backingPath, resolved, format, structure, options, chain);
            }
            return new Qcow2DiskImage(path, resolvedPath, file, fileLength, header, l1, backing, dataFile, dataFileLength, options)
            {
                ExternalDataFile = dataPath,
            };
        }
        catch
        {
            dataFile?.Dispose();
            backing?.Dispose();
            throw;
        }
    }

    private static ulong[] ReadL1(SafeFileHandle file, long fileLength, Qcow2Header header, ImageErrorFactory error)
    {
        var l1 = new ulong[header.L1Size];
        if (l1.Length == 0) return l1;
        byte[] raw = new byte[l1.Length * 8];
        if (ReadFully(file, raw, header.L1TableOffset) != raw.Length)
            throw error("short read of the L1 table (the file shrank?)", "qcow2 L1 table", header.L1TableOffset,
                ImageErrorKind.Truncated);
        for (int i = 0; i < l1.Length; i++)
        {
            ulong entry = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
            long l2 = (long)(entry & L1OffsetMask);
            long at = header.L1TableOffset + i * 8L;
            if ((entry & L1ReservedMask) != 0)
                throw error($"L1 entry {i} (0x{entry:x16}) has reserved bits 0x{entry & L1ReservedMask:x} set", "qcow2 L1 table", at);
            if (l2 != 0)
            {
                if ((l2 & (header.ClusterSize - 1)) != 0)
                    throw error($"L1 entry {i} points to L2 table offset 0x{l2:x}, which is not cluster-aligned", "qcow2 L1 table", at);
                if (l2 > fileLength - header.ClusterSize)
                    throw error($"L1 entry {i} points to L2 table offset 0x{l2:x}, past the end of the {fileLength}-byte file",
                        "qcow2 L1 table", at, ImageErrorKind.Truncated);
            }
            l1[i] = entry;
        }
        return l1;
    }

    /// <summary>
    /// Checks that every refcount block the refcount table names is aligned and starts inside the file. Refcounts are
    /// not used for reading, but a block past the end means the file was cut short (docs/disk-formats.md §1.8).
    /// </summary>
    private static void CheckRefcountTable(SafeFileHandle file, long fileLength, Qcow2Header header, ImageErrorFactory error)
    {
        const string structure = "qcow2 refcount table";
        if (header.RefcountTableBytes == 0) return;
        long tableOffset = (long)header.RefcountTableOffset;
        byte[] raw = ArrayPool<byte>.Shared.Rent((int)header.RefcountTableBytes);
        try
        {
            var table = raw.AsSpan(0, (int)header.RefcountTableBytes);
            if (ReadFully(file, table, tableOffset) != table.Length)
                throw error("short read of the refcount table (the file shrank?)", structure, tableOffset, ImageErrorKind.Truncated);
            for (int i = 0; i < table.Length / 8; i++)
            {
                ulong entry = BinaryPrimitives.ReadUInt64BigEndian(table[(i * 8)..]);
                if (entry == 0) continue;
                long at = tableOffset + i * 8L;
                ulong block = entry & RefcountTableOffsetMask;
                if (entry != block || (block & (ulong)(header.ClusterSize - 1)) != 0)
                    throw error($"refcount table entry {i} (0x{entry:x16}) is not a cluster-aligned offset", structure, at);
                if (block >= (ulong)fileLength)
                    throw error($"refcount table entry {i} points to a refcount block at 0x{block:x}, past the end of the " +
                                $"{fileLength}-byte file", structure, at, ImageErrorKind.Truncated);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    /// <summary>Reads until <paramref name="destination"/> is full or the file ends; returns the bytes read.</summary>
    private static int ReadFully(SafeFileHandle file, Span<byte> destination, long offset)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int n = RandomAccess.Read(file, destination[done..], offset + done);
            if (n <= 0) break;
            done += n;
        }
        return done;
    }

    // ---------------------------------------------------------------- address translation (docs/disk-formats.md §1.4,
    // §1.6)

    private L2Table GetL2(long offset)
    {
        var last = Volatile.Read(ref _lastL2);
        if (last is not null && last.Offset == offset) return last;
        L2Table? table;
        lock (_l2Lock) _l2Tables.TryGetValue(offset, out table);
        if (table is null)
        {
            byte[] raw = ArrayPool<byte>.Shared.Rent(_clusterSize);
            try
            {
                if (ReadFully(_file, raw.AsSpan(0, _clusterSize), offset) != _clusterSize)
                    throw Error("short read of an L2 table (the file shrank?)", "qcow2 L2 table", offset, ImageErrorKind.Truncated);
                var entries = new ulong[_clusterSize / 8];
                int stride = _header.L2EntrySize / 8; // with extended L2, every other u64 is a subcluster bitmap
                for (int i = 0; i < entries.Length; i++)
                {
                    ulong entry = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
                    if (i % stride == 0 && (entry & L2Compressed) == 0 && (entry & L2StandardReservedMask) != 0)
                        throw Error($"L2 entry {i / stride} (0x{entry:x16}) has reserved bits 0x{entry & L2StandardReservedMask:x} set",
                            "qcow2 L2 table", offset + i * 8L);
                    entries[i] = entry;
                }
                table = new L2Table(offset, entries);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(raw);
            }
            lock (_l2Lock)
            {
                if (_l2Tables.Count >= _maxL2Tables) _l2Tables.Clear();
                _l2Tables[offset] = table;
            }
        }
        Volatile.Write(ref _lastL2, table);
        return table;
    }

    /// <summary>Maps the guest byte at <paramref name="p"/> (0 ≤ p &lt; Length) to a segment.</summary>
    private Segment Resolve(long p)
    {
        long cluster = p >> _clusterBits;
        long inCluster = p & (_clusterSize - 1);
        long l1Index = p / _clusterSpan;
        if (l1Index >= _l1.Length)
            return new Segment(Kind.Unallocated, 0, _clusterSize - inCluster, 0);
        long l2Offset = (long)(_l1[l1Index] & L1OffsetMask);
        if (l2Offset == 0)
            return new Segment(Kind.Unallocated, 0, (l1Index + 1) * _clusterSpan - p, 0);

        var table = GetL2(l2Offset);
        int l2Index = (int)(cluster % _header.L2Entries);
        bool extended = _header.ExtendedL2;
        ulong entry = extended ? table.Entries[l2Index * 2] : table.Entries[l2Index];
        long entryAt = l2Offset + (long)l2Index * _header.L2EntrySize;
        long clusterRemaining = _clusterSize - inCluster;

        if ((entry & L2Compressed) != 0)
        {
            if (_dataFile is not null)
                throw Error("compressed cluster in an image with an external data file", "qcow2 L2 entry", entryAt);
            if (extended && table.Entries[l2Index * 2 + 1] != 0)
                throw Error("compressed cluster with a non-zero subcluster bitmap", "qcow2 L2 entry", entryAt);
            return new Segment(Kind.Compressed, 0, clusterRemaining, entry);
        }

        long host = (long)(entry & L2OffsetMask);
        bool hasHost = host != 0 || (_dataFile is not null && (entry & L2Copied) != 0);
        if (hasHost && _dataFile is null && (host & (_clusterSize - 1)) != 0)
            throw Error($"data cluster offset 0x{host:x} is not cluster-aligned", "qcow2 L2 entry", entryAt);

        if (!extended)
        {
            // Bit 0 "reads as zeros" exists from version 3 on; in version 2 it is reserved.
            if ((entry & L2ZeroFlag) != 0 && _header.Version >= 3)
                return new Segment(Kind.Zero, 0, clusterRemaining, 0);
            return hasHost
                ? new Segment(Kind.Normal, host + inCluster, clusterRemaining, 0)
                : new Segment(Kind.Unallocated, 0, clusterRemaining, 0);
        }

        ulong bitmap = table.Entries[l2Index * 2 + 1];
        uint allocated = (uint)bitmap;
        uint zero = (uint)(bitmap >> 32);
        if ((allocated & zero) != 0)
            throw Error($"subcluster bitmap 0x{bitmap:x16} marks subclusters both allocated and zero", "qcow2 L2 entry", entryAt);
        if (allocated != 0 && !hasHost)
            throw Error("allocated subclusters in a cluster without a host offset", "qcow2 L2 entry", entryAt);

        int sub = (int)(inCluster >> _subclusterBits);
        Kind kind = StateOf(sub);
        int last = sub;
        while (last + 1 < SubclustersPerCluster && StateOf(last + 1) == kind) last++;
        long runEnd = (long)(last + 1) << _subclusterBits;
        long length = runEnd - inCluster;
        return kind == Kind.Normal
            ? new Segment(Kind.Normal, host + inCluster, length, 0)
            : new Segment(kind, 0, length, 0);

        Kind StateOf(int s) =>
            (allocated >> s & 1) != 0 ? Kind.Normal : (zero >> s & 1) != 0 ? Kind.Zero : Kind.Unallocated;
    }

    // ---------------------------------------------------------------- reading

    /// <inheritdoc />
    public override int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset >= Length || destination.IsEmpty) return 0;
        if (destination.Length > Length - offset) destination = destination[..(int)(Length - offset)];
        NoteRead(offset, destination.Length);
        // A read spanning several clusters: let the pool decode the later compressed ones while this thread does the first.
        if (destination.Length > 2 * _clusterSize)
            ScheduleCompressed(offset + _clusterSize, destination.Length - _clusterSize);

        int done = 0;
        while (done < destination.Length)
        {
            long p = offset + done;
            var seg = Resolve(p);
            int want = (int)Math.Min(seg.Length, destination.Length - done);
            var target = destination.Slice(done, want);
            switch (seg.Kind)
            {
                case Kind.Normal:
                {
                    // Coalesce host-contiguous normal clusters into one positional read.
                    long host = seg.Host;
                    int run = want;
                    while (done + run < destination.Length)
                    {
                        var next = Resolve(p + run);
                        if (next.Kind != Kind.Normal || next.Host != host + run) break;
                        run += (int)Math.Min(next.Length, destination.Length - done - run);
                    }
                    ReadHost(p, host, destination.Slice(done, run));
                    want = run;
                    break;
                }
                case Kind.Zero:
                    target.Clear();
                    break;
                case Kind.Unallocated:
                    ReadBacking(p, target);
                    break;
                case Kind.Compressed:
                {
                    using var lease = GetCompressed(p, seg.Descriptor);
                    lease.Span.Slice((int)(p & (_clusterSize - 1)), want).CopyTo(target);
                    break;
                }
            }
            done += want;
        }
        return done;
    }

    /// <summary>
    /// Reads a run of normal clusters, guest bytes from <paramref name="guest"/>, host bytes from <paramref name="host"/>.
    /// Every byte of the run must exist: a run reaching past the end of the image (or data) file means the file was cut
    /// short, and reading zeros instead would silently lose data (docs/disk-formats.md §1.4).
    /// </summary>
    private void ReadHost(long guest, long host, Span<byte> target)
    {
        var handle = _dataFile ?? _file;
        long fileLength = _dataFile is null ? _fileLength : _dataFileLength;
        if (host > fileLength - target.Length)
            throw PastEnd(guest, host, Math.Max(host, fileLength));
        int done = 0;
        while (done < target.Length)
        {
            int n = RandomAccess.Read(handle, target[done..], host + done);
            if (n <= 0) throw PastEnd(guest, host, host + done); // the file shrank after it was opened
            done += n;
        }
    }

    /// <summary>The error for a run of normal clusters whose host bytes from <paramref name="missing"/> on do not exist.</summary>
    private ImageFormatException PastEnd(long guest, long host, long missing)
    {
        long hostCluster = missing & ~((long)_clusterSize - 1);
        long guestCluster = (guest + (missing - host)) & ~((long)_clusterSize - 1);
        bool data = _dataFile is not null;
        long fileLength = data ? _dataFileLength : _fileLength;
        return Error($"the cluster at guest offset {guestCluster} (0x{guestCluster:x}) maps to host offset 0x{hostCluster:x}, " +
                     $"but the {(data ? $"external data file {ExternalDataFile}" : "file")} ends at byte {fileLength} (truncated?)",
            data ? "qcow2 external data cluster" : "qcow2 data cluster", hostCluster, ImageErrorKind.Truncated);
    }

    private void ReadBacking(long p, Span<byte> target)
    {
        int filled = 0;
        if (_backing is not null && p < _backing.Length)
        {
            int n = (int)Math.Min(target.Length, _backing.Length - p);
            _backing.ReadExactlyAt(p, target[..n]);
            filled = n;
        }
        target[filled..].Clear(); // no backing, or past the end of a shorter backing file
    }

    private long CompressedKey(ulong descriptor) => (long)(descriptor & ((1UL << _compressedOffsetBits) - 1));

    /// <summary>The decoded compressed cluster holding guest byte <paramref name="guest"/>; an error names that guest cluster.</summary>
    private DecodedClusterCache.Lease GetCompressed(long guest, ulong descriptor)
    {
        try
        {
            return _clusters.Get(CompressedKey(descriptor), descriptor);
        }
        catch (ImageFormatException e)
        {
            long cluster = guest & ~((long)_clusterSize - 1);
            throw new ImageFormatException($"guest cluster at offset {cluster} (0x{cluster:x}): {e.Reason}", e.Structure, e.Offset, e,
                e.Kind) { ImagePath = Path };
        }
    }

    /// <summary>Decompresses one cluster (docs/disk-formats.md §1.5).</summary>
    private void DecodeCompressed(ulong descriptor, byte[] destination)
    {
        int x = _compressedOffsetBits;
        ulong coffset = descriptor & ((1UL << x) - 1);
        ulong sectors = ((descriptor >> x) & ((1UL << (_clusterBits - 8)) - 1)) + 1;
        long csize = (long)(sectors * CompressedSectorSize - (coffset & (CompressedSectorSize - 1)));
        if (coffset >= (ulong)_fileLength)
            throw Error($"compressed cluster at host offset 0x{coffset:x} lies past the end of the {_fileLength}-byte file",
                "qcow2 compressed cluster", (long)Math.Min(coffset, long.MaxValue), ImageErrorKind.Truncated);
        long start = (long)coffset;
        // The final sector may lie past EOF (docs/disk-formats.md §1.5); when the data then does not decode, the file
        // was cut short.
        bool cut = csize > _fileLength - start;
        int available = (int)Math.Min(csize, _fileLength - start);
        byte[] input = ArrayPool<byte>.Shared.Rent(available);
        try
        {
            int got = ReadFully(_file, input.AsSpan(0, available), start);
            cut |= got < available;
            int produced;
            try
            {
                // Stop once a whole cluster is out: trailing bytes belong to the next cluster's sector
                // (docs/disk-formats.md §1.5).
                produced = _header.CompressionType == CompressionZstd
                    ? ZstdCluster.Decode(input.AsSpan(0, got), destination.AsSpan(0, _clusterSize))
                    : InflateCluster(input, got, destination.AsSpan(0, _clusterSize));
            }
            catch (Exception ex) when (ex is not ImageFormatException and not OutOfMemoryException)
            {
                throw new ImageFormatException(cut
                        ? $"{CompressionType} data at host offset 0x{start:x} runs past the end of the {_fileLength}-byte file and does not decode: {ex.Message}"
                        : $"{CompressionType} data does not decode: {ex.Message}",
                    "qcow2 compressed cluster", start, ex, cut ? ImageErrorKind.Truncated : ImageErrorKind.Corrupt) { ImagePath = Path };
            }
            if (produced < _clusterSize)
                throw cut
                    ? Error($"{CompressionType} data at host offset 0x{start:x} runs past the end of the {_fileLength}-byte file " +
                            $"and decodes to only {produced} of {_clusterSize} bytes", "qcow2 compressed cluster", start,
                        ImageErrorKind.Truncated)
                    : Error($"{CompressionType} data decodes to {produced} bytes, not a {_clusterSize}-byte cluster",
                        "qcow2 compressed cluster", start);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(input);
        }
    }

    /// <summary>Type 0 is raw DEFLATE (RFC 1951, no zlib header; qemu uses window bits −12).</summary>
    private static int InflateCluster(byte[] input, int length, Span<byte> destination)
    {
        using var compressed = new MemoryStream(input, 0, length, writable: false);
        using var inflater = new DeflateStream(compressed, CompressionMode.Decompress);
        return inflater.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false);
    }

    // ---------------------------------------------------------------- prefetch and read-ahead

    private void NoteRead(long offset, int length)
    {
        if (_readAheadBytes == 0) return;
        long end = offset + length;
        long previous = Interlocked.Exchange(ref _lastReadEnd, end);
        if (offset != previous) return; // not sequential
        long mark = Volatile.Read(ref _readAheadMark);
        if (mark >= end + _readAheadBytes / 2) return;
        long from = Math.Max(mark, end);
        long until = end + _readAheadBytes;
        long reached = ScheduleCompressed(from, until - from);
        // Benign race: several readers may move the mark; at worst a range is scheduled twice (the cache dedups).
        if (reached > mark) Interlocked.Exchange(ref _readAheadMark, reached);
    }

    /// <summary>
    /// Starts decoding the compressed clusters of [offset, offset+length) on the thread pool (bounded by the number in
    /// flight and the cache budget), so that reads find them ready.
    /// </summary>
    public override void Prefetch(long offset, long length)
    {
        if (offset < 0 || length <= 0 || offset >= Length) return;
        ScheduleCompressed(offset, Math.Min(length, Length - offset));
        if (_backing is not null) _backing.Prefetch(offset, Math.Min(length, _backing.Length - offset));
    }

    /// <summary>Schedules compressed clusters; returns the guest offset up to which everything is scheduled.</summary>
    private long ScheduleCompressed(long offset, long length)
    {
        long end = Math.Min(Length, offset + length);
        long p = offset;
        int visited = 0;
        try
        {
            while (p < end && visited++ < _maxPrefetchClusters)
            {
                var seg = Resolve(p);
                if (seg.Kind == Kind.Compressed && !_clusters.TrySchedule(CompressedKey(seg.Descriptor), seg.Descriptor))
                    return p;
                p += seg.Length;
            }
        }
        catch (ImageFormatException)
        {
            // A hint only: the reader will meet (and report) the corruption itself.
        }
        return Math.Min(p, end);
    }

    // ---------------------------------------------------------------- allocation map

    /// <summary>
    /// The allocated ranges of [offset, offset+length): normal and compressed clusters of this image, plus the allocated
    /// ranges of the backing chain under unallocated clusters. Zero clusters and unbacked holes are not allocated.
    /// </summary>
    public override IReadOnlyList<(long Offset, long Length)>? GetAllocatedRanges(long offset, long length)
    {
        var ranges = new List<(long Offset, long Length)>();
        if (offset < 0 || length <= 0 || offset >= Length) return ranges;
        long end = Math.Min(Length, offset + length);
        long p = offset;
        while (p < end)
        {
            var seg = Resolve(p);
            long n = Math.Min(seg.Length, end - p);
            switch (seg.Kind)
            {
                case Kind.Normal:
                case Kind.Compressed:
                    Add(ranges, p, n);
                    break;
                case Kind.Unallocated when _backing is not null && p < _backing.Length:
                {
                    long m = Math.Min(n, _backing.Length - p);
                    var inner = _backing.GetAllocatedRanges(p, m);
                    if (inner is null) Add(ranges, p, m);
                    else foreach (var (o, l) in inner) Add(ranges, o, l);
                    break;
                }
            }
            p += n;
        }
        return ranges;

        static void Add(List<(long Offset, long Length)> list, long o, long l)
        {
            if (l <= 0) return;
            if (list.Count > 0 && list[^1].Offset + list[^1].Length == o)
                list[^1] = (list[^1].Offset, list[^1].Length + l);
            else
                list.Add((o, l));
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _clusters.Dispose();
            _file.Dispose();
            _dataFile?.Dispose();
            _backing?.Dispose();
        }
        base.Dispose(disposing);
    }
}
