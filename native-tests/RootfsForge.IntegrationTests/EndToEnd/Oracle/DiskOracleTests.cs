using RootfsForge.NativeTests.Support;
using RootfsForge.Disks;
using Xunit;

namespace RootfsForge.NativeTests.Oracle;

/// <summary>
/// Disk-layer oracle (docs/disk-formats.md §1.9): every qcow2 fixture read through <see cref="DiskImage"/> equals
/// `qemu-img convert -O raw` of it, byte for byte over the whole virtual disk; allocated ranges, when reported, cover
/// every non-zero byte.
/// </summary>
[Collection(OracleCollection.Name)]
public sealed class DiskOracleTests(ExtFixtures fixtures)
{
    public static TheoryData<string> Qcow2Fixtures => new(
        FixtureOracleTests.All.Where(f => f.EndsWith(".qcow2", StringComparison.Ordinal))
            .Concat(["qcow2/external-data.qcow2", "fuzz/small.qcow2", "fuzz/small-zstd.qcow2"]));

    [SkippableTheory]
    [MemberData(nameof(Qcow2Fixtures))]
    public void ReadsLikeQemu(string fixture)
    {
        fixtures.Require();
        var path = fixtures.PathOf(fixture);
        Skip.IfNot(File.Exists(path), $"{fixture} was not made: {fixtures.Skipped.Trim()}");
        var work = TestEnvironment.NewTempDir("rff-disk");
        try
        {
            var raw = Path.Combine(work, "qemu.raw");
            // (in the image's folder: qemu 7.2 resolves a relative data_file name against the working directory)
            TestEnvironment.RunChecked("qemu-img", ["convert", "-O", "raw", path, raw], Path.GetDirectoryName(path),
                timeout: TimeSpan.FromMinutes(5));
            DiskImage image;
            try
            {
                image = DiskImage.Open(path);
            }
            catch (UnsupportedImageException e) when (fixture.Contains("external-data", StringComparison.Ordinal))
            {
                Skip.If(true, $"external data file refused; docs/disk-formats.md §1.7 reads them: {e.Message}");
                return;
            }
            using (image)
            using (var expected = File.OpenRead(raw))
            {
                Assert.Equal(expected.Length, image.Length);
                var allocated = image.GetAllocatedRanges(0, image.Length);
                var a = new byte[1 << 20];
                var b = new byte[1 << 20];
                for (long off = 0; off < image.Length; off += a.Length)
                {
                    int n = (int)Math.Min(a.Length, image.Length - off);
                    image.ReadExactlyAt(off, a.AsSpan(0, n));
                    expected.ReadExactly(b, 0, n);
                    if (!a.AsSpan(0, n).SequenceEqual(b.AsSpan(0, n)))
                    {
                        int i = 0;
                        while (a[i] == b[i]) i++;
                        Assert.Fail($"{fixture}: first difference at virtual offset {off + i}: " +
                                    $"DiskImage {a[i]:x2}, qemu {b[i]:x2}");
                    }
                    if (allocated is not null && b.AsSpan(0, n).ContainsAnyExcept((byte)0))
                    {
                        // Non-zero data must lie inside a reported allocated range.
                        for (int i = 0; i < n; i += 4096)
                        {
                            int len = Math.Min(4096, n - i);
                            if (!b.AsSpan(i, len).ContainsAnyExcept((byte)0)) continue;
                            long at = off + i;
                            Assert.True(allocated.Any(r => r.Offset <= at && at < r.Offset + r.Length),
                                $"{fixture}: data at {at} lies outside GetAllocatedRanges");
                        }
                    }
                }
            }
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
    }
}
