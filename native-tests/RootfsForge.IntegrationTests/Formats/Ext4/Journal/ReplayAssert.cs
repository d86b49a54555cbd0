using RootfsForge.Disks;
using Xunit;

namespace RootfsForge.NativeTests.Journal;

internal static class ReplayAssert
{
    /// <summary>
    /// Every block of <paramref name="overlay"/> equals the same block of the e2fsprogs-replayed copy, except
    /// <paramref name="excluded"/> blocks (ones e2fsprogs rewrites itself after replay; callers say why).
    /// </summary>
    public static void MatchesOracle(BlockSource overlay, string oraclePath, int blockSize, IReadOnlySet<long> excluded,
        string what)
    {
        using var oracle = BlockSource.OpenFile(oraclePath);
        Assert.Equal(oracle.Length, overlay.Length);
        var ours = new byte[blockSize];
        var theirs = new byte[blockSize];
        var mismatches = new List<long>();
        long blocks = overlay.Length / blockSize;
        for (long b = 0; b < blocks; b++)
        {
            if (excluded.Contains(b)) continue;
            overlay.ReadExactlyAt(b * blockSize, ours);
            oracle.ReadExactlyAt(b * blockSize, theirs);
            if (!ours.AsSpan().SequenceEqual(theirs)) mismatches.Add(b);
        }
        Assert.True(mismatches.Count == 0,
            $"{what}: {mismatches.Count} blocks differ from e2fsprogs' replay, e.g. {string.Join(", ", mismatches.Take(20))}");
    }

    public static byte[] ReadBlock(BlockSource source, long block, int blockSize)
    {
        var buffer = new byte[blockSize];
        source.ReadExactlyAt(block * blockSize, buffer);
        return buffer;
    }
}
