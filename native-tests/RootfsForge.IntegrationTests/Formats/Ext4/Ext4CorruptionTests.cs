using System.Buffers.Binary;
using System.Text.RegularExpressions;
using RootfsForge.NativeTests.Support;
using RootfsForge.Ext4;
using RootfsForge.Tree;
using Xunit;
using Xunit.Abstractions;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>
/// Seeded, bounded random corruption of a small mke2fs image (superblock, descriptors, inode table, extent, directory and
/// xattr blocks) plus hand-made cycles: only <see cref="ImageFormatException"/> or warnings, never a hang.
/// </summary>
public partial class Ext4CorruptionTests(ITestOutputHelper output)
{
    private const int BlockSize = 1024;
    private static readonly Lock Gate = new();

    /// <summary>A small image with a fragmented file (depth-1 extent tree), xattr blocks, subdirectories and symlinks.</summary>
    private static string SmallImage()
    {
        lock (Gate)
        {
            string image = Path.Combine(Ext4Fixtures.Dir, "small-fuzz-v2.img");
            if (File.Exists(image)) return image;
            string src = TestEnvironment.NewTempDir("rff-small");
            Directory.CreateDirectory(Path.Combine(src, "dir", "sub"));
            File.WriteAllText(Path.Combine(src, "dir", "a.txt"), "alpha");
            File.WriteAllBytes(Path.Combine(src, "dir", "sub", "big"), Enumerable.Range(0, 70_000).Select(i => (byte)(i * 7)).ToArray());
            using (var f = File.Create(Path.Combine(src, "frag")))
            {
                // Data every 8 KiB: more than 4 extents, so the tree needs a leaf block.
                for (int i = 0; i < 12; i++)
                {
                    f.Position = i * 8192L;
                    f.WriteByte((byte)(i + 1));
                }
            }
            for (int i = 0; i < 40; i++) File.WriteAllText(Path.Combine(src, "dir", $"file{i:D2}"), new string('x', i * 37));
            File.CreateSymbolicLink(Path.Combine(src, "link"), "dir/a.txt");
            File.CreateSymbolicLink(Path.Combine(src, "longlink"), new string('l', 200));
            string tmp = image + ".tmp";
            File.Delete(tmp);
            TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-b", "1024", "-I", "256", "-N", "128", "-d", src, tmp, "2M"]);
            if (TestEnvironment.FindOnPath("setfattr") is not null)
            {
                // xattr blocks via debugfs (no mount needed): values too big for the inode.
                TestEnvironment.RunChecked("debugfs", ["-w", "-R", $"ea_set /dir/a.txt user.big {new string('v', 400)}", tmp]);
                TestEnvironment.RunChecked("debugfs", ["-w", "-R", $"ea_set /frag user.other {new string('w', 300)}", tmp]);
            }
            File.Move(tmp, image);
            Directory.Delete(src, true);
            return image;
        }
    }

    private static (List<(long Start, long Length, string What)> Regions, long FragLeaf) Regions(string image)
    {
        var regions = new List<(long, long, string)> { (1024, 1024, "superblock"), (2 * BlockSize, BlockSize, "group descriptors") };
        string dump = TestEnvironment.RunChecked("dumpe2fs", [image]);
        var m = InodeTable().Match(dump);
        long itStart = long.Parse(m.Groups[1].Value);
        regions.Add((itStart * BlockSize, 16 * BlockSize, "inode table"));
        long fragLeaf = -1;
        foreach (var path in new[] { "/", "/dir", "/dir/sub", "/frag", "/dir/a.txt", "/longlink", "/dir/sub/big" })
        {
            string stat = TestEnvironment.RunChecked("debugfs", ["-R", $"stat {path}", image]);
            foreach (Match b in BlockRange().Matches(stat))
            {
                long first = long.Parse(b.Groups[2].Value);
                long last = b.Groups[3].Success ? long.Parse(b.Groups[3].Value) : first;
                string what = b.Groups[1].Value.Length > 0 ? "extent block" : path + " data";
                if (what is "/frag data" or "/dir/sub/big data") continue; // file content: nothing to parse
                regions.Add((first * BlockSize, Math.Min(last - first + 1, 4) * BlockSize, what));
            }
            var acl = FileAcl().Match(stat);
            if (acl.Success && acl.Groups[1].Value != "0") regions.Add((long.Parse(acl.Groups[1].Value) * BlockSize, BlockSize, "xattr block"));
            if (path == "/frag")
            {
                var idx = IndexBlock().Match(stat);
                if (idx.Success) fragLeaf = long.Parse(idx.Groups[1].Value);
            }
        }
        return (regions, fragLeaf);
    }

    [GeneratedRegex(@"Inode table at (\d+)-")]
    private static partial Regex InodeTable();

    [GeneratedRegex(@"\((ETB\d*|IND|DIND|TIND|)(?:\d+(?:-\d+)?)?\):(\d+)(?:-(\d+))?")]
    private static partial Regex BlockRange();

    [GeneratedRegex(@"File ACL: (\d+)")]
    private static partial Regex FileAcl();

    [GeneratedRegex(@"\(ETB0\):(\d+)")]
    private static partial Regex IndexBlock();

    [SkippableFact]
    public void SmallImageIsClean()
    {
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("debugfs");
        using var device = BlockSource.OpenFile(SmallImage());
        using var fs = Ext4FileSystem.Open(device, new Ext4Options { VerifyChecksums = true });
        var entries = fs.Walk().ToList();
        Assert.Empty(fs.Warnings);
        var frag = entries.Single(e => e.Path == "frag");
        using var c = frag.OpenContent!();
        Assert.Equal(11 * 8192 + 1, c.Length);
        var segments = c.GetDataSegments();
        Assert.Equal(12, segments.Count); // one block each, holes between
        byte[] one = new byte[1];
        c.ReadExactlyAt(5 * 8192, one);
        Assert.Equal(6, one[0]);
        c.ReadExactlyAt(5 * 8192 + 1, one);
        Assert.Equal(0, one[0]);
        Assert.Contains(entries.Single(e => e.Path == "dir/a.txt").ExtendedAttributes, a => a.Name == "user.big" && a.Value.Length == 400);
        Assert.Equal(new string('l', 200), entries.Single(e => e.Path == "longlink").LinkTarget);
    }

    [SkippableFact]
    public void RandomCorruptionOnlyRaisesImageFormatException()
    {
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("debugfs");
        string image = SmallImage();
        byte[] pristine = File.ReadAllBytes(image);
        var (regions, _) = Regions(image);
        output.WriteLine(string.Join("\n", regions.Select(r => $"{r.What}: {r.Start}+{r.Length}")));
        int failures = 0, errors = 0, walked = 0;
        for (int seed = 0; seed < 600; seed++)
        {
            var rng = new Random(seed);
            byte[] data = (byte[])pristine.Clone();
            var region = regions[rng.Next(regions.Count)];
            int flips = 1 + rng.Next(8);
            for (int i = 0; i < flips; i++)
            {
                long at = region.Start + rng.NextInt64(region.Length);
                data[at] = rng.Next(3) switch { 0 => (byte)rng.Next(256), 1 => 0, _ => 0xFF };
            }
            using var device = BlockSource.FromBytes(data);
            var outcome = Ext4Robustness.RunBounded(device, TimeSpan.FromSeconds(10), verify: seed % 2 == 0);
            if (!outcome.Ok)
            {
                failures++;
                output.WriteLine($"seed {seed} ({region.What}, {flips} bytes): {outcome}");
            }
            else if (outcome.Description.StartsWith("ImageFormatException", StringComparison.Ordinal)) errors++;
            else walked++;
        }
        output.WriteLine($"walked {walked}, ImageFormatException {errors}, failures {failures}");
        Assert.Equal(0, failures);
    }

    [SkippableFact]
    public void DirectoryCycleIsEnteredOnce()
    {
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("debugfs");
        string copy = Path.Combine(TestEnvironment.NewTempDir("rff-cycle"), "cycle.img");
        File.Copy(SmallImage(), copy);
        // debugfs "ln" makes directory hard links without checks: a loop to the root and one to the parent.
        TestEnvironment.RunChecked("debugfs", ["-w", "-R", "ln / /dir/sub/root-again", copy]);
        TestEnvironment.RunChecked("debugfs", ["-w", "-R", "ln /dir /dir/sub/parent-again", copy]);
        using var device = BlockSource.OpenFile(copy);
        using var fs = Ext4FileSystem.Open(device);
        var entries = fs.Walk().ToList();
        Assert.DoesNotContain(entries, e => e.Path.StartsWith("dir/sub/root-again", StringComparison.Ordinal));
        Assert.DoesNotContain(entries, e => e.Path.StartsWith("dir/sub/parent-again", StringComparison.Ordinal));
        Assert.Contains(entries, e => e.Path == "dir/sub/big");
        Assert.Equal(2, fs.Warnings.Count(w => w.Contains("already visited")));
        File.Delete(copy);
    }

    [SkippableFact]
    public async Task RootInodeThatIsNoDirectoryNamesTheInodeAndItsOffset()
    {
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("debugfs");
        string image = SmallImage();
        // debugfs "imap <2>": "Inode 2 is part of block group 0\n\tlocated at block B, offset 0xO".
        var m = InodeLocation().Match(TestEnvironment.RunChecked("debugfs", ["-R", "imap <2>", image]));
        Assert.True(m.Success, "debugfs imap printed no location");
        long offset = long.Parse(m.Groups[1].Value) * BlockSize + Convert.ToInt64(m.Groups[2].Value, 16);
        byte[] data = File.ReadAllBytes(image);
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan((int)offset), 0x81A4); // S_IFREG | 0644
        using var device = BlockSource.FromBytes(data);
        using var fs = Ext4FileSystem.Open(device);
        var ex = await Assert.ThrowsAsync<ImageFormatException>(async () =>
        {
            await foreach (var _ in fs.WalkAsync()) { }
        });
        Assert.Equal(ImageErrorKind.Corrupt, ex.Kind);
        Assert.Equal("ext4 inode 2", ex.Structure);
        Assert.Equal(offset, ex.Offset);
    }

    [GeneratedRegex(@"located at block (\d+), offset 0x([0-9a-fA-F]+)")]
    private static partial Regex InodeLocation();

    [SkippableFact]
    public void ExtentCycleFailsCleanly()
    {
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("debugfs");
        string image = SmallImage();
        var (_, leaf) = Regions(image);
        Skip.If(leaf < 0, "the fragmented file has no extent leaf block");
        byte[] data = File.ReadAllBytes(image);
        // Turn the leaf into an index node whose only entry points back at itself, with an unchanged depth.
        var node = data.AsSpan((int)(leaf * BlockSize), BlockSize);
        BinaryPrimitives.WriteUInt16LittleEndian(node[2..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(node[6..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(node[12..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(node[16..], (uint)leaf);
        BinaryPrimitives.WriteUInt16LittleEndian(node[20..], 0);
        using var device = BlockSource.FromBytes(data);
        using var fs = Ext4FileSystem.Open(device);
        // The walk maps every file: the damaged one is skipped with a warning, the rest of the tree survives.
        var entries = fs.Walk().ToList();
        Assert.DoesNotContain(entries, e => e.Path == "frag");
        Assert.Contains(entries, e => e.Path == "dir/sub/big");
        Assert.Contains(fs.Warnings, w => w.StartsWith("/frag: skipped:", StringComparison.Ordinal) && w.Contains("extent"));
        // A lookup maps lazily; opening the content then fails with the structure named.
        var frag = fs.GetEntry("frag")!;
        var ex = Assert.ThrowsAny<ImageFormatException>(() => frag.OpenContent!());
        Assert.Equal(ImageErrorKind.Corrupt, ex.Kind); // the leaf now claims depth 1 below a depth-1 root
        Assert.Equal($"ext4 inode {frag.InodeId} extent tree", ex.Structure);
        Assert.Equal(leaf * BlockSize, ex.Offset);
        var outcome = Ext4Robustness.RunBounded(device, TimeSpan.FromSeconds(10), verify: false);
        Assert.True(outcome.Ok, outcome.Description);
    }
}
