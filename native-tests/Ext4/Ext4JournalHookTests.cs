using RootfsForge.NativeTests.Support;
using RootfsForge.Sources.Ext4;
using Xunit;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>Tests that set <see cref="Ext4FileSystem.JournalReplayer"/> (a static) run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public class Ext4JournalHookCollection
{
    public const string Name = "ext4 journal hook";
}

/// <summary>The needs_recovery path: the journal inode helpers and the loud warning when the journal is not replayed.</summary>
[Collection(Ext4JournalHookCollection.Name)]
public class Ext4JournalHookTests
{
    [SkippableFact]
    public void NotReplayingWarnsLoudlyAndReadsAsIs()
    {
        string image = Ext4CorpusTests.Decompressed("j_corrupt_commit_csum", "image.gz");
        using var device = new FileBlockSource(image);
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
        using var device = new FileBlockSource(image);
        using var fs = Ext4FileSystem.Open(device, new Ext4Options { ReplayJournal = false });
        uint inode = fs.Superblock.JournalInum;
        Assert.Equal(8u, inode);
        // debugfs "bmap <8> N" prints the physical block of logical block N.
        long count = fs.InodeBlockCount(inode);
        Assert.True(count > 0);
        var map = fs.MapInodeBlock(inode);
        foreach (long logical in new[] { 0L, 1L, count / 2, count - 1 })
        {
            string bmap = TestEnvironment.RunChecked("debugfs", ["-R", $"bmap <8> {logical}", image]).Trim();
            Assert.Equal(long.Parse(bmap), map(logical));
        }
    }

    [SkippableFact]
    public void ReplayHookReceivesTheJournalAndTheFilesystemIsReadThroughTheOverlay()
    {
        string image = Ext4CorpusTests.Decompressed("j_corrupt_commit_csum", "image.gz");
        var previous = Ext4FileSystem.JournalReplayer;
        Skip.If(previous is not null, "a real journal replayer is installed (integration); its own tests cover replay");
        int calls = 0;
        long journalBlocks = 0;
        using var device = new FileBlockSource(image);
        // The overlay here is an in-memory copy of the device: reading through it must give the same tree.
        byte[] copy = File.ReadAllBytes(image);
        var overlay = new MemoryBlockSource(copy);
        try
        {
            Ext4FileSystem.JournalReplayer = (dev, blockSize, map, count, warn) =>
            {
                calls++;
                journalBlocks = count;
                Assert.Same(device, dev);
                Assert.Equal(1024, blockSize);
                Assert.True(map(0) > 0);
                return overlay;
            };
            using var fs = Ext4FileSystem.Open(device);
            Assert.Equal(1, calls);
            Assert.True(journalBlocks > 0);
            Assert.True(fs.Info.JournalReplayed);
            Assert.DoesNotContain(fs.Warnings, w => w.StartsWith("needs_recovery", StringComparison.Ordinal));
            Assert.NotEmpty(fs.Walk().ToList());
        }
        finally
        {
            Ext4FileSystem.JournalReplayer = previous;
        }
    }
}
