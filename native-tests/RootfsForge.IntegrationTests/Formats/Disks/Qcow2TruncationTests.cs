using RootfsForge.Disks;
using RootfsForge.NativeTests.Oracle;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Disks;

/// <summary>
/// A qcow2 cut short must never read as zeros where its data was: every host byte a read needs must exist,
/// else the read fails with kind Truncated naming the cluster (docs/disk-formats.md §1.4). The oracle for a truncated
/// image that still extracts is the kernel's loop mount of the raw filesystem the qcow2 was converted from.
/// </summary>
public sealed class Qcow2TruncationTests
{
    /// <summary>Where the cut is made: inside the data clusters of ./big.</summary>
    private const long IssueCut = 3346432;

    /// <summary>
    /// The issue's reproduction with seeded instead of /dev/urandom bytes: s2/big of 3,000,000 random bytes, mke2fs -d
    /// into a 16 MiB ext4 without a journal, qemu-img convert to qcow2 (64 KiB clusters, data in guest order). Also a few
    /// small files and a directory, so that random truncations can spare or hit more than one file.
    /// </summary>
    internal static string Fixture() => DiskFixtures.BuildSet("truncation", d =>
    {
        string src = Path.Combine(d, "s2");
        Directory.CreateDirectory(Path.Combine(src, "etc"));
        var big = new byte[3_000_000];
        new Random(91).NextBytes(big);
        File.WriteAllBytes(Path.Combine(src, "big"), big);
        File.WriteAllText(Path.Combine(src, "etc", "os-release"), "ID=truncation\n");
        File.WriteAllText(Path.Combine(src, "etc", "hostname"), "cut\n");
        TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-O", "^has_journal", "-d", src,
            Path.Combine(d, "fs2.img"), "16M"]);
        DiskFixtures.Qemu("qemu-img", ["convert", "-O", "qcow2", "fs2.img", "t.qcow2"], d);
    });

    private static void RequireTools()
    {
        DiskFixtures.RequireQemu();
        TestEnvironment.RequireTool("mke2fs");
    }

    private static string CutCopy(string work, string name, long length)
    {
        string path = Path.Combine(work, name);
        File.Copy(Path.Combine(Fixture(), "t.qcow2"), path, overwrite: true);
        using (var f = new FileStream(path, FileMode.Open)) f.SetLength(length);
        return path;
    }

    [SkippableFact]
    public void IssueReproduction_ReadingTheDiskFailsTruncatedAtTheFirstMissingCluster()
    {
        RequireTools();
        string work = TestEnvironment.NewTempDir("rff-trunc");
        try
        {
            string image = CutCopy(work, "t.qcow2", IssueCut);
            using var disk = DiskImage.Open(image);
            var buffer = new byte[1 << 20];
            var e = Assert.ThrowsAny<ImageFormatException>(() =>
            {
                for (long p = 0; p < disk.Length; p += buffer.Length) disk.ReadAt(p, buffer);
            });
            Assert.Equal(ImageErrorKind.Truncated, e.Kind);
            Assert.Equal("qcow2 data cluster", e.Structure);
            Assert.Equal(IssueCut & ~0xFFFFL, e.Offset); // the cluster holding the first missing byte
            Assert.Equal(image, e.ImagePath);
            Assert.Contains("guest offset", e.Message);
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }

    [SkippableFact]
    public void IssueReproduction_ExtractAndCatExit3AndWriteNoOutput()
    {
        RequireTools();
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");
        string work = TestEnvironment.NewTempDir("rff-trunc");
        try
        {
            string image = CutCopy(work, "t.qcow2", IssueCut);
            string tar = Path.Combine(work, "t.tar");
            var r = GuardedCli.Run("extract", image, "-o", tar);
            Assert.True(r.ExitCode == 3, $"extract: exit {r.ExitCode}: {r.StdErr}");
            Assert.Null(r.Violation());
            Assert.Contains(image, r.StdErr);
            Assert.Contains("qcow2 data cluster", r.StdErr);
            Assert.Contains($"0x{IssueCut & ~0xFFFFL:x}", r.StdErr);
            Assert.Equal(["t.qcow2"], Directory.GetFileSystemEntries(work).Select(p => Path.GetFileName(p)).ToArray());

            var c = GuardedCli.Run("cat", image, "/big");
            Assert.True(c.ExitCode == 3, $"cat: exit {c.ExitCode}: {c.StdErr}");
            Assert.Null(c.Violation());
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }

    /// <summary>
    /// Seeded truncations anywhere in the file: each must exit 3, or exit 0 with a tar equal to the kernel's view of the
    /// filesystem (the cut spared everything the extraction reads). Both outcomes must occur.
    /// </summary>
    [SkippableTheory]
    [InlineData(9101)]
    [InlineData(9102)]
    public void RandomTruncationsExit3OrExtractExactly(int seed)
    {
        RequireTools();
        TestEnvironment.RequireRoot("loop-mounts the raw filesystem as the oracle");
        TestEnvironment.RequireTool("python3");
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");
        string fixture = Fixture();
        long length = new FileInfo(Path.Combine(fixture, "t.qcow2")).Length;
        var rng = new Random(seed);
        // Half the cuts anywhere, half in the last 10%, where a cut can spare every cluster the files use.
        var cuts = Enumerable.Range(0, 12)
            .Select(i => i % 2 == 0 ? rng.NextInt64(length) : length - 1 - rng.NextInt64(length / 10))
            .ToList();
        string work = TestEnvironment.NewTempDir("rff-trunc");
        using var mount = LoopMount.ReadOnly(Path.Combine(fixture, "fs2.img"), 0);
        int refused = 0, extracted = 0;
        try
        {
            foreach (long cut in cuts)
            {
                string image = CutCopy(work, "cut.qcow2", cut);
                string tar = Path.Combine(work, "out.tar");
                var r = GuardedCli.Run("extract", image, "-o", tar, "--quiet");
                Assert.True(r.Violation() is null, $"seed {seed}, cut at {cut}: {r.Violation()}");
                if (r.ExitCode == 3)
                {
                    refused++;
                    Assert.False(File.Exists(tar), $"seed {seed}, cut at {cut}: exit 3 left {tar}");
                    continue;
                }
                extracted++;
                Comparer.AssertEqual($"seed {seed}, cut at {cut} (exit 0)", "--tar", tar, "--root", mount.Path);
                File.Delete(tar);
            }
        }
        finally
        {
            Directory.Delete(work, true);
        }
        Assert.True(refused > 0, $"seed {seed}: no cut was refused");
        Assert.True(extracted > 0, $"seed {seed}: no cut spared the files");
    }
}
