namespace RootfsForge.Disks;

/// <summary>Bytes in memory as a <see cref="BlockSource"/> (see <see cref="BlockSource.FromBytes"/>).</summary>
internal sealed class MemoryBlockSource(ReadOnlyMemory<byte> bytes) : BlockSource
{
    public override long Length => bytes.Length;

    public override int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset >= bytes.Length) return 0;
        int n = (int)Math.Min(destination.Length, bytes.Length - offset);
        bytes.Span.Slice((int)offset, n).CopyTo(destination);
        return n;
    }

    public override string Describe() => $"{bytes.Length}-byte image in memory";
}
