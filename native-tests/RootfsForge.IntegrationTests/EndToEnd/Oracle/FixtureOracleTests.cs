using System.Security.Cryptography;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Oracle;

/// <summary>
/// The oracle of docs/disk-formats.md §5: for every fixture, `rootfsforge extract IMAGE -o x.tar` equals the kernel's
/// own view of the same filesystem (read-only loop mount), entry by entry (tools/oracle/compare.py).
/// </summary>
[Collection(OracleCollection.Name)]
public sealed class FixtureOracleTests(ExtFixtures fixtures)
{
    /// <summary>Every fixture make-ext-fixtures.sh makes (checked against its manifest by <see cref="ListCoversManifest"/>).</summary>
    public static readonly string[] All =
    [
        "fs/ext4-default.img", "fs/ext4-inline.img", "fs/ext4-32bit-nocsum.img", "fs/ext4-1k.img", "fs/ext4-meta-bg.img",
        "fs/ext4-bigalloc.img", "fs/ext4-sparse-super2.img", "fs/ext3.img", "fs/ext2.img", "fs/kernel.img",
        "disk/gpt.raw", "disk/mbr.raw", "disk/kernel-gpt.raw",
        "qcow2/plain.qcow2", "qcow2/deflate.qcow2", "qcow2/zstd.qcow2", "qcow2/extended-l2.qcow2",
        "qcow2/zstd-extended-l2-32k.qcow2", "qcow2/cluster-512.qcow2", "qcow2/cluster-4k.qcow2", "qcow2/cluster-2m.qcow2",
        "qcow2/cluster-2m-deflate.qcow2", "qcow2/v2.qcow2", "qcow2/v2-deflate.qcow2", "qcow2/kernel-zstd.qcow2",
        "qcow2/chain/top.qcow2", "qcow2/chain/mid.qcow2", "qcow2/snapshot.qcow2",
    ];

    public static TheoryData<string> Fixtures => new(All);

    [SkippableFact]
    public void ListCoversManifest()
    {
        fixtures.Require();
        Assert.Empty(fixtures.Rows.Keys.Except(All));
    }

    [SkippableTheory]
    [MemberData(nameof(Fixtures))]
    public void TarEqualsKernelView(string fixture)
    {
        TestEnvironment.RequireRoot("the oracle is a read-only loop mount");
        var row = fixtures.Row(fixture);
        var work = TestEnvironment.NewTempDir("rff-oracle");
        try
        {
            var tar = Path.Combine(work, "x.tar");
            var (code, _, stderr) = OracleCli.Run("extract", fixtures.PathOf(row.Fixture), "-o", tar, "--quiet");
            Assert.True(code == 0, $"rootfsforge extract {row.Fixture} ({row.Features}): exit {code}: {Comparer.Truncate(stderr, 3000)}");
            using var mount = MountReference(fixtures, row, work);
            Comparer.AssertEqual($"{row.Fixture} ({row.Features}; {row.Notes})", "--tar", tar, "--root", mount.Path);
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
    }

    /// <summary>Mounts the filesystem of <paramref name="row"/> read-only: raw images directly at the partition offset,
    /// qcow2 after `qemu-img convert -O raw` (qemu's own reading of the chain is the reference).</summary>
    public static LoopMount MountReference(ExtFixtures fixtures, FixtureRow row, string work)
    {
        var image = fixtures.PathOf(row.Fixture);
        if (row.Format == "qcow2")
        {
            var raw = Path.Combine(work, "reference.raw");
            TestEnvironment.RunChecked("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", image, raw],
                timeout: TimeSpan.FromMinutes(5));
            image = raw;
        }
        return LoopMount.ReadOnly(image, row.Offset);
    }
}

/// <summary>The other output forms: compressed tars, stdout, a directory, explicit partitions, determinism.</summary>
[Collection(OracleCollection.Name)]
public sealed class OutputVariantTests(ExtFixtures fixtures)
{
    private const string Fixture = "qcow2/zstd.qcow2";

    [SkippableTheory]
    [InlineData("x.tar.gz")]
    [InlineData("x.tar.zst")]
    [InlineData("-")]
    public void CompressedAndStdoutTarsEqualKernelView(string output)
    {
        TestEnvironment.RequireRoot("the oracle is a read-only loop mount");
        if (output.EndsWith(".zst", StringComparison.Ordinal)) TestEnvironment.RequireTool("zstd");
        var row = fixtures.Row(Fixture);
        var work = TestEnvironment.NewTempDir("rff-variant");
        try
        {
            string tar;
            if (output == "-")
            {
                tar = Path.Combine(work, "stdout.tar");
                var (code, stderr) = BinaryRun.ToFile(tar, "dotnet",
                    [TestEnvironment.CliDll, "extract", fixtures.PathOf(row.Fixture), "-o", "-", "--quiet"],
                    TimeSpan.FromMinutes(10));
                Assert.True(code == 0, "extract -o -: " + BinaryRun.Describe(code, stderr));
            }
            else
            {
                tar = Path.Combine(work, output);
                var (code, _, stderr) = OracleCli.Run("extract", fixtures.PathOf(row.Fixture), "-o", tar, "--quiet");
                Assert.True(code == 0, $"extract -o {output}: exit {code}: {stderr}");
                var magic = new byte[4];
                using (var f = File.OpenRead(tar)) f.ReadExactly(magic);
                if (output.EndsWith(".gz", StringComparison.Ordinal)) Assert.Equal([0x1f, 0x8b], magic[..2]);
                else Assert.Equal([0x28, 0xb5, 0x2f, 0xfd], magic);
            }
            using var mount = FixtureOracleTests.MountReference(fixtures, row, work);
            Comparer.AssertEqual($"{row.Fixture} -o {output}", "--tar", tar, "--root", mount.Path);
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
    }

    [SkippableTheory]
    [InlineData("fs/kernel.img")]
    [InlineData("qcow2/zstd.qcow2")]
    public void DirectoryEqualsKernelView(string fixture)
    {
        TestEnvironment.RequireRoot("directory extraction recreates owners/devices; the oracle is a loop mount");
        var row = fixtures.Row(fixture);
        var work = TestEnvironment.NewTempDir("rff-dir");
        try
        {
            var outDir = Path.Combine(work, "out");
            var (code, _, stderr) = OracleCli.Run("extract", fixtures.PathOf(row.Fixture), "-o", outDir, "--quiet");
            Assert.True(code == 0, $"extract -o DIR: exit {code}: {stderr}");
            using var mount = FixtureOracleTests.MountReference(fixtures, row, work);
            Comparer.AssertEqual($"{row.Fixture} -o DIR", "--dir", outDir, "--root", mount.Path);
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
    }

    [SkippableTheory]
    [InlineData("disk/gpt.raw", 1)]
    [InlineData("disk/mbr.raw", 6)]
    [InlineData("qcow2/chain/top.qcow2", 1)]
    public void ExplicitPartitionEqualsKernelView(string fixture, int partition)
    {
        TestEnvironment.RequireRoot("the oracle is a read-only loop mount");
        var row = fixtures.Row(fixture);
        Assert.Equal(partition, row.Partition);
        var work = TestEnvironment.NewTempDir("rff-part");
        try
        {
            var tar = Path.Combine(work, "x.tar");
            var (code, _, stderr) = OracleCli.Run("extract", fixtures.PathOf(row.Fixture), "-o", tar,
                "--partition", partition.ToString(System.Globalization.CultureInfo.InvariantCulture), "--quiet");
            Assert.True(code == 0, $"extract --partition {partition}: exit {code}: {stderr}");
            using var mount = FixtureOracleTests.MountReference(fixtures, row, work);
            Comparer.AssertEqual($"{row.Fixture} --partition {partition}", "--tar", tar, "--root", mount.Path);
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
    }

    [SkippableTheory]
    [InlineData("fs/ext4-default.img")]
    [InlineData("fs/ext4-inline.img")]
    [InlineData("fs/ext4-meta-bg.img")]
    [InlineData("fs/ext4-bigalloc.img")]
    [InlineData("fs/ext4-sparse-super2.img")]
    [InlineData("fs/kernel.img")]
    [InlineData("qcow2/zstd.qcow2")]
    public void VerifyChecksumsAcceptsValidMetadata(string fixture)
    {
        var row = fixtures.Row(fixture);
        var work = TestEnvironment.NewTempDir("rff-csum");
        try
        {
            var (code, _, stderr) = OracleCli.Run("extract", fixtures.PathOf(row.Fixture), "-o", Path.Combine(work, "x.tar"),
                "--verify-checksums", "--quiet");
            Assert.True(code == 0, $"extract --verify-checksums {fixture} (valid metadata_csum): exit {code}: {stderr}");
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
    }

    [SkippableFact]
    public void VerifyChecksumsRejectsAFlippedInodeBit()
    {
        var fuzz = fixtures.PathOf("fuzz");
        fixtures.Require();
        var row = File.ReadAllLines(Path.Combine(fuzz, "offsets.tsv")).Select(l => l.Split('\t'))
            .Single(c => c[0] == "inode:/file-big");
        var work = TestEnvironment.NewTempDir("rff-csum-bad");
        try
        {
            var img = Path.Combine(work, "small.raw");
            File.Copy(Path.Combine(fuzz, "small.raw"), img);
            using (var f = new FileStream(img, FileMode.Open, FileAccess.ReadWrite))
            {
                f.Position = long.Parse(row[2], System.Globalization.CultureInfo.InvariantCulture) + 0x10; // i_mtime
                int b = f.ReadByte();
                f.Position--;
                f.WriteByte((byte)(b ^ 0x01));
            }
            var r = GuardedCli.Run("extract", img, "-o", Path.Combine(work, "x.tar"), "--verify-checksums", "--quiet");
            Assert.True(r.Violation() is null, r.Violation());
            Assert.True(r.ExitCode == 3, $"a flipped inode bit with --verify-checksums must stop with exit 3, got {r.ExitCode}: {r.StdErr}");
            Assert.False(File.Exists(Path.Combine(work, "x.tar")), "exit 3 left x.tar behind");
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
    }

    [SkippableFact]
    public void ExternalDataFileReadOrRefused()
    {
        // docs/disk-formats.md §1.7: external data files are read; a clear refusal (exit 3) would also pass.
        TestEnvironment.RequireRoot("the oracle is a read-only loop mount");
        var row = fixtures.Row("disk/gpt.raw");
        var image = fixtures.PathOf("qcow2/external-data.qcow2");
        Assert.True(File.Exists(image), image + " missing");
        var work = TestEnvironment.NewTempDir("rff-extdata");
        try
        {
            var tar = Path.Combine(work, "x.tar");
            var r = GuardedCli.Run("extract", image, "-o", tar, "--quiet");
            Assert.True(r.Violation() is null, r.Violation());
            if (r.ExitCode == 3) return;
            using var mount = LoopMount.ReadOnly(fixtures.PathOf(row.Fixture), row.Offset);
            Comparer.AssertEqual("external data file", "--tar", tar, "--root", mount.Path);
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
    }

    [SkippableFact]
    public void TwoRunsGiveIdenticalTars()
    {
        var row = fixtures.Row("fs/kernel.img");
        var work = TestEnvironment.NewTempDir("rff-determinism");
        try
        {
            var hashes = new List<string>();
            foreach (var name in new[] { "1.tar", "2.tar" })
            {
                var tar = Path.Combine(work, name);
                var (code, _, stderr) = OracleCli.Run("extract", fixtures.PathOf(row.Fixture), "-o", tar, "--quiet");
                Assert.True(code == 0, $"extract: exit {code}: {stderr}");
                using var f = File.OpenRead(tar);
                hashes.Add(Convert.ToHexString(SHA256.HashData(f)));
            }
            Assert.Equal(hashes[0], hashes[1]);
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
    }

    [SkippableFact]
    public void FailedRunLeavesNoOutput()
    {
        // A truncated image (superblock present, inode tables cut off) must end in exit 3 or 0; with 3 no output.
        var row = fixtures.Row("fs/ext4-default.img");
        var work = TestEnvironment.NewTempDir("rff-trunc");
        try
        {
            var cut = Path.Combine(work, "cut.img");
            using (var src = File.OpenRead(fixtures.PathOf(row.Fixture)))
            using (var dst = File.Create(cut))
            {
                var buf = new byte[1 << 20];
                src.ReadExactly(buf);
                dst.Write(buf);
            }
            var problems = GuardedCli.ExtractChecked(cut, alsoDirectory: false);
            Assert.True(problems.Count == 0, string.Join("\n", problems));
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
    }
}

/// <summary>Validates the comparer itself (tools/oracle/selftest.sh): GNU tar and `cp -a` of the mount compare equal,
/// and every deliberate change to a copy of the filesystem is reported.</summary>
[Collection(OracleCollection.Name)]
public sealed class ComparerSelfTests(ExtFixtures fixtures)
{
    [SkippableTheory]
    [InlineData("fs/kernel.img")]
    [InlineData("fs/ext2.img")]
    public void ComparerAgreesWithGnuTarAndCatchesChanges(string fixture)
    {
        TestEnvironment.RequireRoot("loop mounts");
        foreach (var tool in new[] { "tar", "setfattr", "setfacl", "setcap" }) TestEnvironment.RequireTool(tool);
        var row = fixtures.Row(fixture);
        var script = Path.Combine(TestEnvironment.RepoRoot, "tools", "oracle", "selftest.sh");
        var (code, stdout, stderr) = TestEnvironment.Run("bash", [script, fixtures.PathOf(row.Fixture)],
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(code == 0, $"selftest.sh {fixture}: exit {code}\n{stdout}\n{Comparer.Truncate(stderr, 6000)}");
        Assert.Contains("selftest: all checks passed", stdout);
    }
}
