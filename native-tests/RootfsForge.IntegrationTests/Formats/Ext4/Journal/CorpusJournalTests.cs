using System.Text.RegularExpressions;
using RootfsForge.NativeTests.Support;
using RootfsForge.Disks;
using RootfsForge.Ext4.Journal;
using Xunit;

namespace RootfsForge.NativeTests.Journal;

/// <summary>
/// The e2fsprogs corpus images that need journal recovery (native-tests/data/e2fsprogs). Replay must finish within 10 s and
/// either succeed or fail with an <see cref="ImageFormatException"/>; where e2fsprogs replays, the result must equal its
/// <c>debugfs journal_run</c> block for block, and where the upstream <c>expect</c> file shows file content after
/// e2fsck's replay, the replayed blocks must hold that content.
/// </summary>
public sealed partial class CorpusJournalTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);
    private readonly string _dir = TestEnvironment.NewTempDir("rff-journal-corpus");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string CorpusDir => Path.Combine(TestEnvironment.DataDir, "e2fsprogs");

    private JournalImage Load(string test)
    {
        TestEnvironment.RequireTool("debugfs");
        string folder = Path.Combine(CorpusDir, test);
        Skip.IfNot(Directory.Exists(folder), $"corpus folder {folder} is missing");
        string compressed = Directory.GetFiles(folder, "image.*").Single();
        string image = JournalImage.Decompress(compressed, _dir, test + ".img");
        return JournalImage.Inspect(image);
    }

    /// <summary>Replays and reads every block of the result, on another thread, failing if it takes over 10 s.</summary>
    private static BlockSource ReplayBounded(JournalImage info, BlockSource device, List<string> warnings)
    {
        var task = Task.Run(() =>
        {
            var result = info.Replay(device, warnings);
            var buffer = new byte[info.BlockSize * 16];
            for (long at = 0; at < result.Length; at += buffer.Length)
                result.ReadAt(at, buffer);
            return result;
        });
        Assert.True(task.Wait(Limit), "journal replay did not finish within 10 s");
        return task.Result;
    }

    [SkippableTheory]
    [InlineData("j_recover_csum2_64bit", true)]
    [InlineData("f_clear_orphan_file", true)]
    [InlineData("j_corrupt_journal_block", true)]
    [InlineData("j_corrupt_commit_csum", false)]
    public void Replay_matches_e2fsprogs_journal_run(string test, bool replaysBlocks)
    {
        var info = Load(test);
        var warnings = new List<string>();
        using var device = BlockSource.OpenFile(info.Path);
        var result = ReplayBounded(info, device, warnings);
        if (replaysBlocks)
            Assert.NotEmpty(Assert.IsType<JournalOverlayBlockSource>(result).ReplayedBlocks);
        else
            Assert.Same(device, result);

        string oracle = info.OracleReplay(_dir, out _);
        ReplayAssert.MatchesOracle(result, oracle, info.BlockSize, GeneratedJournalTests.Exclusions(info), test);
    }

    /// <summary>
    /// j_recover_fast_commit: one full transaction (sequence 5) plus fast-commit records for transaction 6. The oracle
    /// is e2fsck -fy on a copy whose fast-commit area is zeroed (see OracleReplayWithoutFastCommits); e2fsck then only
    /// corrects the superblock's free counts, which are excluded with the superblock anyway.
    /// </summary>
    [SkippableFact]
    public void Fast_commit_image_full_transactions_match_e2fsck()
    {
        TestEnvironment.RequireTool("e2fsck");
        var info = Load("j_recover_fast_commit");
        var warnings = new List<string>();
        using var device = BlockSource.OpenFile(info.Path);
        var result = ReplayBounded(info, device, warnings);
        var overlay = Assert.IsType<JournalOverlayBlockSource>(result);
        Assert.Contains(34L, overlay.ReplayedBlocks);

        string oracle = info.OracleReplayWithoutFastCommits(_dir, out var fastCommitBlocks);
        var excluded = new HashSet<long>(GeneratedJournalTests.Exclusions(info));
        excluded.UnionWith(fastCommitBlocks);
        ReplayAssert.MatchesOracle(result, oracle, info.BlockSize, excluded, "j_recover_fast_commit");
    }

    [SkippableFact]
    public void Corrupt_commit_checksum_stops_before_that_transaction()
    {
        // expect: "Journal transaction 3 was corrupt, replay was aborted." and /a still reads 'a'.
        var info = Load("j_corrupt_commit_csum");
        var warnings = new List<string>();
        using var device = BlockSource.OpenFile(info.Path);
        var result = ReplayBounded(info, device, warnings);
        Assert.Same(device, result);
        Assert.Contains(warnings, w => w.Contains("transaction 3 was corrupt", StringComparison.Ordinal));
        AssertFileContentFromExpect("j_corrupt_commit_csum", info, result);
    }

    [SkippableFact]
    public void Corrupt_data_block_checksum_skips_that_copy_and_warns()
    {
        // expect: "JBD2: Invalid checksum recovering data block 1090 in log"; /a reads b.., c.., d.. afterwards.
        var info = Load("j_corrupt_journal_block");
        var warnings = new List<string>();
        using var device = BlockSource.OpenFile(info.Path);
        var result = ReplayBounded(info, device, warnings);
        Assert.Contains(warnings, w => w.Contains("invalid checksum on the copy of fs block 1090", StringComparison.Ordinal));
        AssertFileContentFromExpect("j_corrupt_journal_block", info, result);
    }

    [SkippableFact]
    public void Fast_commit_records_are_reported_as_not_applied()
    {
        var info = Load("j_recover_fast_commit");
        var warnings = new List<string>();
        using var device = BlockSource.OpenFile(info.Path);
        ReplayBounded(info, device, warnings);
        Assert.Contains(warnings, w => w.Contains("fast-commit", StringComparison.Ordinal) &&
                                       w.Contains("NOT applied", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void Corrupt_journal_superblock_magic_is_an_ImageFormatException()
    {
        // e2fsck: "Superblock has an invalid journal (inode 8)"; debugfs journal_run refuses too.
        var info = Load("j_corrupt_sb_magic");
        using var device = BlockSource.OpenFile(info.Path);
        var task = Task.Run(() => info.Replay(device, new List<string>()));
        var error = Assert.Throws<AggregateException>(() => { task.Wait(Limit); }).InnerException;
        var format = Assert.IsType<ImageFormatException>(error);
        Assert.Equal(ImageErrorKind.Corrupt, format.Kind);
        Assert.Equal("jbd2 journal superblock", format.Structure);
        Assert.Equal(info.JournalMap[0] * info.BlockSize, format.Offset);
    }

    /// <summary>
    /// Compares /a as read through the replay result with the upstream <c>expect</c> file's <c>debugfs: cat /a</c>
    /// output (taken after e2fsck's replay). /a's block list comes from debugfs on the e2fsprogs-replayed copy.
    /// </summary>
    private void AssertFileContentFromExpect(string test, JournalImage info, BlockSource result)
    {
        string expect = File.ReadAllText(Path.Combine(CorpusDir, test, "expect"));
        var m = CatOutput().Match(expect);
        Assert.True(m.Success, "expect has no 'debugfs: cat /a' output");
        string expected = m.Groups[1].Value;

        string oracle = info.OracleReplay(_dir, out _);
        var blocks = TestEnvironment.RunChecked("debugfs", ["-R", "blocks /a", oracle])
            .Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToList();
        long size = long.Parse(SizeField().Match(TestEnvironment.RunChecked("debugfs", ["-R", "stat /a", oracle])).Groups[1].Value);
        var content = new MemoryStream();
        foreach (long b in blocks) content.Write(ReplayAssert.ReadBlock(result, b, info.BlockSize));
        string actual = System.Text.Encoding.ASCII.GetString(content.GetBuffer(), 0, (int)size);
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(expected == actual, $"/a differs from the expect file: starts '{actual[..40]}', expected '{expected[..40]}'");
    }

    [GeneratedRegex(@"debugfs: cat /a\n(.*?)debugfs: ", RegexOptions.Singleline)]
    private static partial Regex CatOutput();

    [GeneratedRegex(@"Size:\s+(\d+)")]
    private static partial Regex SizeField();
}
