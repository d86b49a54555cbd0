using RootfsForge.Tree;

namespace RootfsForge.Ext4;

/// <summary>
/// A regular file stored inline (docs/disk-formats.md §3.6): the inline bytes, then a hole up to i_size. An i_size
/// larger than the inline area (mke2fs -d stores a file that is one big hole this way) reads as zeros past the inline
/// bytes, as the kernel's inline read path zero-fills every page beyond them (fs/ext4/inline.c, ext4_readpage_inline).
/// </summary>
internal sealed class Ext4InlineContent : FileContent
{
    private readonly byte[] _inline;
    private readonly long _length;

    public Ext4InlineContent(byte[] inline, long length)
    {
        if (inline.Length > length) throw new ArgumentException("inline bytes beyond the file length", nameof(inline));
        _inline = inline;
        _length = length;
    }

    public override long Length => _length;

    public override IReadOnlyList<DataSegment> GetDataSegments() =>
        _inline.Length == 0 ? [] : [new DataSegment(0, _inline.Length)];

    public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
        new(ReadAt(offset, destination.Span));

    /// <summary>The synchronous read behind <see cref="ReadAtAsync"/>: local data, no waiting.</summary>
    internal int ReadAt(long offset, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (offset >= _length || destination.IsEmpty) return 0;
        if (destination.Length > _length - offset) destination = destination[..(int)(_length - offset)];
        int copied = 0;
        if (offset < _inline.Length)
        {
            copied = Math.Min(destination.Length, _inline.Length - (int)offset);
            _inline.AsSpan((int)offset, copied).CopyTo(destination);
        }
        destination[copied..].Clear();
        return destination.Length;
    }
}
