using RootfsForge.Disks;
using Xunit;

namespace RootfsForge.NativeTests.Disks;

internal static class OracleAssert
{
    /// <summary>Compares the whole source with the oracle file in 1 MiB steps, then 300 seeded random ranges.</summary>
    public static void SameBytes(BlockSource disk, string oraclePath, int seed)
    {
        using var oracle = File.OpenHandle(oraclePath);
        long length = RandomAccess.GetLength(oracle);
        Assert.Equal(length, disk.Length);
        var a = new byte[1 << 20];
        var b = new byte[1 << 20];
        for (long pos = 0; pos < length; pos += a.Length)
        {
            int n = (int)Math.Min(a.Length, length - pos);
            disk.ReadExactlyAt(pos, a.AsSpan(0, n));
            RandomAccess.Read(oracle, b.AsSpan(0, n), pos);
            AssertEqual(a.AsSpan(0, n), b.AsSpan(0, n), pos);
        }
        var rng = new Random(seed);
        for (int i = 0; i < 300; i++)
        {
            long offset = rng.NextInt64(length);
            int n = (int)Math.Min(rng.Next(1, i % 3 == 0 ? 300_000 : 5000), length - offset);
            Assert.Equal(n, disk.ReadAt(offset, a.AsSpan(0, n)));
            RandomAccess.Read(oracle, b.AsSpan(0, n), offset);
            AssertEqual(a.AsSpan(0, n), b.AsSpan(0, n), offset);
        }
        // Reads at and past the end return 0.
        Assert.Equal(0, disk.ReadAt(length, a));
    }

    private static void AssertEqual(ReadOnlySpan<byte> actual, ReadOnlySpan<byte> expected, long at)
    {
        int diff = actual.CommonPrefixLength(expected);
        if (diff < actual.Length)
            Assert.Fail($"first difference at guest offset {at + diff}: read 0x{actual[diff]:x2}, oracle 0x{expected[diff]:x2}");
    }

    /// <summary>GetAllocatedRanges equals the union of qemu-img map's <c>"data": true</c> runs.</summary>
    public static void SameAllocation(BlockSource disk, string image)
    {
        var expected = DiskFixtures.QemuDataRanges(image);
        var actual = DiskFixtures.Merge(disk.GetAllocatedRanges(0, disk.Length)
                                        ?? throw new Xunit.Sdk.XunitException("no allocation information"));
        Assert.Equal(Format(expected), Format(actual));
        // A sub-range query returns the clipped runs.
        long from = disk.Length / 3, len = disk.Length / 3;
        var clipped = DiskFixtures.Merge(disk.GetAllocatedRanges(from, len)!);
        var expectedClipped = expected
            .Select(r => (Offset: Math.Max(r.Offset, from), End: Math.Min(r.Offset + r.Length, from + len)))
            .Where(r => r.End > r.Offset).Select(r => (r.Offset, r.End - r.Offset));
        Assert.Equal(Format(DiskFixtures.Merge(expectedClipped)), Format(clipped));
    }

    private static string Format(IEnumerable<(long Offset, long Length)> ranges) =>
        string.Join("\n", ranges.Select(r => $"[{r.Offset}, {r.Offset + r.Length})"));
}
