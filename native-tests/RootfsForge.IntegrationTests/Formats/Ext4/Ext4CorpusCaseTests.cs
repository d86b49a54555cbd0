using RootfsForge.Ext4;
using RootfsForge.Tree;
using Xunit;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>What specific corpus images must produce (README "corrupt" notes and the clean images' expect files).</summary>
public class Ext4CorpusCaseTests
{
    /// <summary>Walks an image; the returned entries' content stays readable (the device is left to the GC).</summary>
    private static (List<TreeEntry> Entries, IReadOnlyList<string> Warnings) Walk(string test, string file = "image.gz")
    {
        var device = BlockSource.OpenFile(Ext4CorpusTests.Decompressed(test, file));
        var fs = Ext4FileSystem.Open(device);
        return (fs.Walk().ToList(), fs.Warnings);
    }

    [SkippableFact]
    public void BadDirNeverCreatesSlashNamesOrLoops()
    {
        var (entries, warnings) = Walk("f_baddir");
        Assert.DoesNotContain(entries, e => e.Path.Contains("foo/bar", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains("is not a valid name; skipped", StringComparison.Ordinal));
        Assert.DoesNotContain(entries, e => e.Path.StartsWith("test/root/", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains("already visited"));
        Assert.Equal(entries.Count, entries.Select(e => e.Path).Distinct().Count());
    }

    [SkippableFact]
    public void DirectoryHardLinkIsEnteredOnce()
    {
        var (entries, warnings) = Walk("f_dirlink");
        Assert.Contains(entries, e => e.Path == "bar" && e.Type == EntryType.Directory);
        Assert.DoesNotContain(entries, e => e.Path == "foo/quux" || e.Path.StartsWith("foo/quux/", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.StartsWith("/foo/quux: directory ", StringComparison.Ordinal) && w.Contains("already visited", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void ZeroedPrimarySuperblockFallsBackToTheBackup()
    {
        var (entries, warnings) = Walk("f_zero_super");
        Assert.Contains(warnings, w => w.Contains("using the backup in group 1 at byte 8389632"));
        Assert.True(entries.Count > 1);
    }

    [SkippableFact]
    public void ExternalJournalDeviceIsRefused()
    {
        using var device = BlockSource.OpenFile(Ext4CorpusTests.Decompressed("f_ext_journal", "journal.gz"));
        var ex = Assert.Throws<UnsupportedImageException>(() => Ext4FileSystem.Open(device));
        Assert.Equal(ImageErrorKind.Unsupported, ex.Kind);
        Assert.Equal("ext4 superblock", ex.Structure);
        Assert.Equal(1024, ex.Offset);
    }

    [SkippableFact]
    public void InlineDataFilesHaveTheirExactSize()
    {
        // d_inline_dump/expect: /shortfile has i_size 20 (debugfs 1.47.0 pads it to 60).
        var (entries, warnings) = Walk("d_inline_dump");
        Assert.Empty(warnings);
        var shortFile = entries.Single(e => e.Path == "shortfile");
        Assert.Equal(20, shortFile.Size);
        using var c = shortFile.OpenContent!();
        var bytes = new byte[c.Length];
        c.ReadExactlyAt(0, bytes);
        Assert.Equal(0, c.ReadAt(20, new byte[1]));
    }

    [SkippableFact]
    public void UnwrittenExtentsReadAsZerosAndAreHoles()
    {
        using var device = BlockSource.OpenFile(Ext4CorpusTests.Decompressed("f_uninit_cat", "image.gz"));
        using var fs = Ext4FileSystem.Open(device);
        var file = fs.Walk().Single(e => e.Type == EntryType.RegularFile);
        using var c = file.OpenContent!();
        var data = new byte[c.Length];
        c.ReadExactlyAt(0, data);
        long inSegments = c.GetDataSegments().Sum(s => s.Length);
        // Bytes outside the data segments must be zeros.
        long pos = 0;
        foreach (var s in c.GetDataSegments())
        {
            Assert.False(data.AsSpan((int)pos, (int)(s.Offset - pos)).ContainsAnyExcept((byte)0));
            pos = s.End;
        }
        Assert.False(data.AsSpan((int)pos).ContainsAnyExcept((byte)0));
        Assert.True(inSegments < c.Length, "the unwritten extents must be reported as holes");
    }

    [SkippableFact]
    public void BigSparseFileIsBoundedByItsSize()
    {
        var (entries, _) = Walk("f_big_sparse");
        foreach (var e in entries.Where(e => e.Type == EntryType.RegularFile))
        {
            using var c = e.OpenContent!();
            Assert.All(c.GetDataSegments(), s => Assert.True(s.End <= c.Length));
        }
    }

    [SkippableFact]
    public void EncryptedInodesAreSkippedWithTheirPath()
    {
        var (_, warnings) = Walk("f_bad_encryption");
        Assert.Contains(warnings, w => w.StartsWith("/", StringComparison.Ordinal) && w.Contains("encrypted inode"));
    }

    [SkippableTheory]
    [InlineData("f_ea_signed_hash")]
    [InlineData("f_ea_unsigned_hash")]
    [InlineData("f_valid_ea_in_inode")]
    [InlineData("f_selinux")]
    public void XattrValuesMatchDebugfsEaGet(string test)
    {
        Support.TestEnvironment.RequireTool("debugfs");
        string image = Ext4CorpusTests.Decompressed(test, "image.gz");
        var (entries, _) = Walk(test);
        string tmp = Path.Combine(Support.TestEnvironment.NewTempDir("rff-ea"), "value");
        int compared = 0;
        foreach (var e in entries.Where(e => e.Path.Length > 0 && e.Type != EntryType.HardLink))
        {
            foreach (var a in e.ExtendedAttributes)
            {
                if (a.Name.StartsWith("system.posix_acl", StringComparison.Ordinal)) continue; // debugfs shows the disk form
                File.Delete(tmp);
                Support.TestEnvironment.RunChecked("debugfs", ["-R", $"ea_get -f {tmp} \"/{e.Path}\" {a.Name}", image]);
                Assert.True(File.Exists(tmp), $"{test}: debugfs has no {a.Name} on /{e.Path}");
                Assert.Equal(File.ReadAllBytes(tmp), a.Value);
                compared++;
            }
        }
        Assert.True(compared > 0, $"{test}: no xattrs compared");
    }
}
