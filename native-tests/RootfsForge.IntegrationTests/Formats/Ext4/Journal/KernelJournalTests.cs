using RootfsForge.NativeTests.Support;
using RootfsForge.Ext4.Journal;
using Xunit;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Journal;

/// <summary>
/// Journals written by the Linux kernel: an ext4 image is loop-mounted, changed (creates, writes, deletes, renames,
/// so that there are several transactions and revoke records), synced, and copied while still mounted, so the copy
/// needs recovery like the image of a running VM. The oracle is e2fsprogs' journal_run on the copy.
/// </summary>
public sealed class KernelJournalTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = TestEnvironment.NewTempDir("rff-journal-kernel");

    public void Dispose()
    {
        string mnt = Path.Combine(_dir, "mnt");
        if (Directory.Exists(mnt)) TestEnvironment.Run("umount", [mnt]);
        Directory.Delete(_dir, recursive: true);
    }

    [SkippableTheory]
    [InlineData("metadata_csum,64bit")]
    [InlineData("^metadata_csum,^64bit")]
    public void Kernel_journal_of_a_mounted_filesystem_matches_e2fsprogs(string features)
    {
        TestEnvironment.RequireRoot("loop-mounts an ext4 image so that the kernel writes its journal");
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("debugfs");
        string image = Path.Combine(_dir, "live.img");
        string mnt = Path.Combine(_dir, "mnt");
        Directory.CreateDirectory(mnt);
        TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-O", features, image, "32M"]);
        var (code, _, err) = TestEnvironment.Run("mount", ["-o", "loop", image, mnt]);
        Skip.If(code != 0, $"cannot loop-mount here: {err}");

        string copy = Path.Combine(_dir, "crashed.img");
        try
        {
            var random = new Random(1);
            for (int i = 0; i < 200; i++)
            {
                var data = new byte[random.Next(0, 20000)];
                random.NextBytes(data);
                Directory.CreateDirectory(Path.Combine(mnt, $"d{i % 7}"));
                File.WriteAllBytes(Path.Combine(mnt, $"d{i % 7}", $"f{i}"), data);
            }
            TestEnvironment.RunChecked("sync", []);
            for (int i = 0; i < 200; i += 3) File.Delete(Path.Combine(mnt, $"d{i % 7}", $"f{i}"));
            TestEnvironment.RunChecked("sync", []);
            // Freeing journaled metadata (directory blocks) makes the kernel write revoke records.
            Directory.Delete(Path.Combine(mnt, "d5"), recursive: true);
            Directory.Delete(Path.Combine(mnt, "d6"), recursive: true);
            TestEnvironment.RunChecked("sync", []);
            Directory.Move(Path.Combine(mnt, "d3"), Path.Combine(mnt, "renamed"));
            File.WriteAllText(Path.Combine(mnt, "last"), "after the deletes");
            TestEnvironment.RunChecked("sync", []);
            File.Copy(image, copy);
        }
        finally
        {
            TestEnvironment.RunChecked("umount", [mnt]);
        }

        string header = TestEnvironment.RunChecked("dumpe2fs", ["-h", copy]);
        Skip.IfNot(header.Contains("needs_recovery", StringComparison.Ordinal),
            "the kernel checkpointed the whole journal before the copy; nothing to replay");
        var info = JournalImage.Inspect(copy);
        var warnings = new List<string>();
        using var device = BlockSource.OpenFile(copy);
        var overlay = Assert.IsType<JournalOverlayBlockSource>(info.Replay(device, warnings));
        Assert.Empty(warnings);
        Assert.NotEmpty(overlay.ReplayedBlocks);
        string log = TestEnvironment.RunChecked("debugfs", ["-R", "logdump", copy]);
        output.WriteLine($"{features}: {overlay.ReplayedBlocks.Count} blocks replayed; log has " +
                         $"{log.Split("(commit block)").Length - 1} commits, {log.Split("(revoke table)").Length - 1} revoke blocks");
        string oracle = info.OracleReplay(_dir, out _);
        ReplayAssert.MatchesOracle(overlay, oracle, info.BlockSize, GeneratedJournalTests.Exclusions(info), features);
    }
}
