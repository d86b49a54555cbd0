using RootfsForge.NativeTests.Support;
using RootfsForge.Ext4;
using Xunit;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>The needs_recovery path: the journal inode helpers and the loud warning when the journal is not replayed.</summary>
public class Ext4JournalHookTests
{
    [SkippableFact]
    public void NotReplayingWarnsLoudlyAndReadsAsIs()
    {
        string image = Ext4CorpusTests.Decompressed("j_corrupt_commit_csum", "image.gz");
        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device, new Ext4Options { ReplayJournal = false });
        Assert.True(fs.Info.NeedsRecovery);
        Assert.False(fs.Info.JournalReplayed);
        Assert.Contains("needs_recovery", fs.Info.IncompatFeatures);
        Assert.Contains(fs.Warnings, w => w.StartsWith("needs_recovery: the journal was not replayed; the last writes may be missing", StringComparison.Ordinal));
        Assert.NotEmpty(fs.Walk().ToList());
    }

    [SkippableFact]
    public void JournalInodeHelpersMatchDebugfs()
    {
        TestEnvironment.RequireTool("debugfs");
        string image = Ext4CorpusTests.Decompressed("j_corrupt_commit_csum", "image.gz");
        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device, new Ext4Options { ReplayJournal = false });
        uint inode = fs.Volume.Superblock.JournalInum;
        Assert.Equal(8u, inode);
        // debugfs "bmap <8> N" prints the physical block of logical block N.
        var journal = fs.Inodes.Read(inode);
        long count = (long)(journal.Size / (ulong)fs.Volume.BlockSize);
        Assert.True(count > 0);
        var map = DataMap.Read(fs.Volume, journal);
        foreach (long logical in new[] { 0L, 1L, count / 2, count - 1 })
        {
            string bmap = TestEnvironment.RunChecked("debugfs", ["-R", $"bmap <8> {logical}", image]).Trim();
            Assert.Equal(long.Parse(bmap), map.PhysicalBlock(logical));
        }
    }

    [SkippableFact]
    public void ReplaysTheJournalByDefaultAndReadsThroughTheOverlay()
    {
        string image = Ext4CorpusTests.Decompressed("j_recover_csum2_64bit", "image.bz2");
        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device);
        Assert.True(fs.Info.NeedsRecovery);
        Assert.True(fs.Info.JournalReplayed);
        Assert.DoesNotContain(fs.Warnings, w => w.StartsWith("needs_recovery", StringComparison.Ordinal));
        Assert.NotEmpty(fs.Walk().ToList());
    }
}
