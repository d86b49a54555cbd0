namespace RootfsForge.Disks;

/// <summary>A window onto another <see cref="BlockSource"/> (a partition of a disk).</summary>
internal sealed class SlicedBlockSource : BlockSource
{
    private readonly BlockSource _inner;
    private readonly long _start;
    private readonly long _length;

    public SlicedBlockSource(BlockSource inner, long start, long length)
    {
        _inner = inner;
        _start = start;
        _length = length;
    }

    public override long Length => _length;

    public override int ReadAt(long offset, Span<byte> destination)
    {
        if (offset >= _length || offset < 0) return 0;
        long room = _length - offset;
        if (destination.Length > room) destination = destination[..(int)room];
        return _inner.ReadAt(_start + offset, destination);
    }

    public override void Prefetch(long offset, long length)
    {
        if (offset < 0 || offset >= _length) return;
        _inner.Prefetch(_start + offset, Math.Min(length, _length - offset));
    }

    public override IReadOnlyList<(long Offset, long Length)>? GetAllocatedRanges(long offset, long length)
    {
        var inner = _inner.GetAllocatedRanges(_start + offset, length);
        if (inner is null) return null;
        var result = new List<(long, long)>(inner.Count);
        foreach (var (o, l) in inner) result.Add((o - _start, l));
        return result;
    }

    public override string Describe() => $"{_inner.Describe()} [bytes {_start}..{_start + _length})";
}
