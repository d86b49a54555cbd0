using RootfsForge.Tree;

namespace RootfsForge.Tar;

/// <summary>
/// The content of one regular file in its archive: stored in one piece, or sparse with its data segments stored back to
/// back (GNU sparse formats) and the holes between them reading as zeros.
/// </summary>
internal sealed class TarFileContent : FileContent
{
    private readonly TarInode _inode;
    private readonly TarArchive _archive;
    private readonly long[]? _segmentOffsets; // where each segment's data lies in the archive

    public TarFileContent(TarInode inode)
    {
        _inode = inode;
        _archive = inode.Archive!;
        if (inode.Segments is { } segments)
        {
            _segmentOffsets = new long[segments.Length];
            long at = inode.DataOffset;
            for (int i = 0; i < segments.Length; i++)
            {
                _segmentOffsets[i] = at;
                at += segments[i].Length;
            }
        }
    }

    public override long Length => _inode.Size;

    // The archive is a file read with pread (compressed or streamed archives are spooled first): reads of any entry are
    // independent of each other and of the walk.
    internal override bool SupportsConcurrentReads => true;

    internal override EncodedContent? Encoded => _inode.Segments is null ? _archive.EncodedAt(_inode.DataOffset, _inode.Size) : null;

    public override IReadOnlyList<DataSegment> GetDataSegments() =>
        _inode.Segments ?? (_inode.Size == 0 ? [] : [new DataSegment(0, _inode.Size)]);

    public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
        new(ReadAt(offset, destination.Span));

    private int ReadAt(long offset, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (offset >= _inode.Size || destination.Length == 0) return 0;
        long remaining = _inode.Size - offset;
        if (destination.Length > remaining) destination = destination[..(int)remaining];
        if (_inode.Segments is not { } segments)
        {
            _archive.ReadExactly(_inode.DataOffset + offset, destination);
            return destination.Length;
        }
        // The last segment starting at or before offset.
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
            _archive.ReadExactly(_segmentOffsets![found] + (offset - segments[found].Offset), destination[..n]);
            return n;
        }
        long nextStart = found + 1 < segments.Length ? segments[found + 1].Offset : _inode.Size;
        int zeros = (int)Math.Min(destination.Length, nextStart - offset);
        destination[..zeros].Clear();
        return zeros;
    }
}
