using RootfsForge.NativeTests.Support;
using RootfsForge.Ext4;
using RootfsForge.Tree;
using Xunit;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>
/// Images made by <c>mke2fs -d</c> from a known source tree, in several feature sets; the oracle is the source tree itself
/// (lstat, readlink, getxattr, content hashes via tools/fixtures/ext4-manifest.py).
/// </summary>
public class Ext4MkfsImageTests
{
    public static TheoryData<string, string, string> FeatureSets => new()
    {
        { "ext4-default", "full", "-t ext4 -I 256" },
        { "ext4-inline", "inline", "-t ext4 -I 256 -O inline_data" },
        { "ext4-no64-nocsum", "full", "-t ext4 -I 256 -O ^64bit,^metadata_csum" },
        { "ext4-1k", "full", "-t ext4 -I 256 -b 1024" },
        { "ext4-metabg", "full", "-t ext4 -I 256 -O meta_bg,^resize_inode" },
        { "ext4-bigalloc", "full", "-t ext4 -I 256 -O bigalloc -C 16384" },
        { "ext4-csum-seed-64k", "full", "-t ext4 -I 256 -b 65536 -O metadata_csum_seed" },
        { "ext3", "full", "-t ext3 -I 256" },
        { "ext2-128", "full", "-t ext2 -I 128" },
    };

    [SkippableTheory]
    [MemberData(nameof(FeatureSets))]
    public void WalkMatchesSourceTree(string name, string variant, string mkfsArgs)
    {
        Ext4Fixtures.RequireImageTools();
        string tree = Ext4Fixtures.SourceTree(variant);
        string size = name.Contains("64k") ? "512M" : "160M";
        string image = Ext4Fixtures.Image(name, tree, mkfsArgs.Split(' '), size);
        var manifest = Ext4Fixtures.Manifest(tree);
        using var device = BlockSource.OpenFile(image);
        // Verify every checksum where the image has them: mke2fs output must be clean.
        using var fs = Ext4FileSystem.Open(device, new Ext4Options { VerifyChecksums = true });
        var entries = Ext4TreeComparer.CompareWalk(fs, manifest, new Ext4TreeComparer.Options());

        // Spot checks the tree comparison cannot express.
        var sparse = entries.Single(e => e.Path == "sparse5g");
        using (var content = sparse.OpenContent!())
        {
            var segments = content.GetDataSegments();
            Assert.InRange(segments.Sum(s => s.Length), 1, 8L << 20); // holes are holes, not 5 GiB of zeros
            Assert.Contains(segments, s => s.Offset <= 4L * 1024 * 1024 * 1024 + 12345 && s.End > 4L * 1024 * 1024 * 1024 + 12345);
            byte[] buf = new byte[7];
            content.ReadExactlyAt(4L * 1024 * 1024 * 1024 + 12345, buf);
            Assert.Equal("past-4g"u8.ToArray(), buf);
            Assert.Equal(0, content.ReadAt(content.Length, buf));
        }
        Assert.Equal(5L << 30, sparse.Size);
        if (variant == "full")
        {
            var shared = entries.Where(e => e.Path.StartsWith("xattrs/shared", StringComparison.Ordinal)).ToList();
            Assert.Equal(3, shared.Count);
        }

        Assert.Equal(name.StartsWith("ext2", StringComparison.Ordinal) ? "ext2" : name.StartsWith("ext3", StringComparison.Ordinal) ? "ext3" : "ext4", fs.Info.Kind);
        Assert.False(fs.Info.NeedsRecovery);
    }

    [SkippableFact]
    public void InfoMatchesDumpe2fs()
    {
        Ext4Fixtures.RequireImageTools();
        string image = Ext4Fixtures.Image("ext4-default", Ext4Fixtures.SourceTree("full"), "-t ext4 -I 256".Split(' '));
        var dump = TestEnvironment.RunChecked("dumpe2fs", ["-h", image]).Split('\n')
            .Where(l => l.Contains(':')).ToDictionary(l => l[..l.IndexOf(':')].Trim(), l => l[(l.IndexOf(':') + 1)..].Trim());
        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device);
        var info = fs.Info;
        Assert.Equal(dump["Block count"], info.BlocksCount.ToString());
        Assert.Equal(dump["Free blocks"], info.FreeBlocksCount.ToString());
        Assert.Equal(dump["Inode count"], info.InodesCount.ToString());
        Assert.Equal(dump["Free inodes"], info.FreeInodesCount.ToString());
        Assert.Equal(dump["Block size"], info.BlockSize.ToString());
        Assert.Equal(dump["Inode size"], info.InodeSize.ToString());
        Assert.Equal(dump["Filesystem UUID"], info.Uuid.ToString());
        var features = dump["Filesystem features"].Split(' ', StringSplitOptions.RemoveEmptyEntries).Order().ToList();
        Assert.Equal(features, info.CompatFeatures.Concat(info.IncompatFeatures).Concat(info.RoCompatFeatures).Order().ToList());
    }

    [SkippableFact]
    public void GetEntryAndListDirectoryFollowLstatRules()
    {
        Ext4Fixtures.RequireImageTools();
        string image = Ext4Fixtures.Image("ext4-default", Ext4Fixtures.SourceTree("full"), "-t ext4 -I 256".Split(' '));
        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device);
        Assert.Equal(EntryType.Directory, fs.GetEntry("")!.Type);
        Assert.Equal(EntryType.Directory, fs.GetEntry("/")!.Type);
        var link = fs.GetEntry("/symlinks/relative")!;
        Assert.Equal(EntryType.SymbolicLink, link.Type);
        Assert.Equal("../sizes/f1", link.LinkTarget);
        Assert.Null(fs.GetEntry("symlinks/relative/x")); // intermediate symlinks are not followed
        Assert.Null(fs.GetEntry("no/such/file"));
        Assert.Equal(4097, fs.GetEntry("sizes/f4097")!.Size);
        var names = fs.ListDirectory("names").Select(e => e.Name).ToList();
        Assert.Equal(names.Order(Comparer<string>.Create(FileNameEncoding.CompareBytes)).ToList(), names);
        Assert.Contains("with space", names);
        Assert.Equal(5000, fs.ListDirectory("/big").Count());
        Assert.Throws<DirectoryNotFoundException>(() => fs.ListDirectory("sizes/f1").ToList());
    }

    [SkippableFact]
    public void MaxDepthStopsDescendingWithAWarningAndCancellationStops()
    {
        Ext4Fixtures.RequireImageTools();
        string image = Ext4Fixtures.Image("ext4-default", Ext4Fixtures.SourceTree("full"), "-t ext4 -I 256".Split(' '));
        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device, new Ext4Options { MaxDepth = 10 });
        var entries = fs.Walk().ToList();
        Assert.Contains(entries, e => e.Path == "deep/l1/l2/l3/l4/l5/l6/l7/l8/l9");
        Assert.DoesNotContain(entries, e => e.Path.StartsWith("deep/l1/l2/l3/l4/l5/l6/l7/l8/l9/", StringComparison.Ordinal));
        Assert.Contains(fs.Warnings, w => w.StartsWith("/deep/l1/l2/l3/l4/l5/l6/l7/l8/l9: deeper than 10 levels", StringComparison.Ordinal));

        using var cts = new CancellationTokenSource();
        int n = 0;
        Assert.Throws<OperationCanceledException>(() =>
        {
            foreach (var _ in fs.Walk(cts.Token))
                if (++n == 100) cts.Cancel();
        });
        Assert.Equal(100, n);
    }

    [SkippableFact]
    public void CasefoldDirectoriesKeepNamesAsStored()
    {
        Ext4Fixtures.RequireImageTools();
        string tree = Path.Combine(Ext4Fixtures.SourceTree("full"), "names");
        string image = Ext4Fixtures.Image("ext4-casefold", tree, ["-t", "ext4", "-I", "256", "-O", "casefold"], "16M");
        // mke2fs -d does not set +F; mark the root casefolded (flags = EXTENTS | CASEFOLD) with debugfs on a copy.
        string copy = Path.Combine(TestEnvironment.NewTempDir("rff-cf"), "cf.img");
        File.Copy(image, copy);
        TestEnvironment.RunChecked("debugfs", ["-w", "-R", "set_inode_field / flags 0x40080000", copy]);
        using var device = BlockSource.OpenFile(copy);
        using var fs = Ext4FileSystem.Open(device);
        Assert.Contains("casefold", fs.Info.IncompatFeatures);
        Ext4TreeComparer.CompareWalk(fs, Ext4Fixtures.Manifest(tree), new Ext4TreeComparer.Options());
        File.Delete(copy);
    }

    [SkippableFact]
    public void Revision0Image()
    {
        Ext4Fixtures.RequireImageTools();
        // Rev 0 cannot hold large files or xattrs; use the hard-link and symlink part of the tree.
        string tree = Path.Combine(Ext4Fixtures.SourceTree("full"), "links");
        string image = Ext4Fixtures.Image("ext2-rev0", tree, ["-t", "ext2", "-r", "0"], "8M");
        var dump = TestEnvironment.RunChecked("dumpe2fs", ["-h", image]);
        Skip.IfNot(dump.Contains("Filesystem revision #:    0"), "mke2fs did not make a revision 0 filesystem");
        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device);
        Assert.Equal(0u, fs.Info.Revision);
        Assert.Equal(128, fs.Info.InodeSize);
        Ext4TreeComparer.CompareWalk(fs, Ext4Fixtures.Manifest(tree), new Ext4TreeComparer.Options());
    }
}
