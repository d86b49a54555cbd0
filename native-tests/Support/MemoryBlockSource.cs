using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>An image held in memory (for patched and fuzzed copies).</summary>
internal sealed class MemoryBlockSource(byte[] data) : BlockSource
{
    public override long Length => data.Length;

    public override int ReadAt(long offset, Span<byte> destination)
    {
        if (offset >= data.Length) return 0;
        int n = (int)Math.Min(destination.Length, data.Length - offset);
        data.AsSpan((int)offset, n).CopyTo(destination);
        return n;
    }
}
