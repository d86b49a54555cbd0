using System.Buffers.Binary;
using RootfsForge.NativeTests.Support;
using RootfsForge.Disks;
using RootfsForge.Ext4.Journal;
using Xunit;

namespace RootfsForge.NativeTests.Journal;

/// <summary>
/// Seeded, bounded corruption of real journals (written by debugfs, and the corpus's j_recover_csum2_64bit): the replay
/// must end in a result or an <see cref="ImageFormatException"/>, never another exception or a hang.
/// </summary>
public sealed class CorruptJournalTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private const int Seeds = 400;
    private readonly string _dir = TestEnvironment.NewTempDir("rff-journal-fuzz");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private JournalImage MakeImage(string name, int blockSize, string features, string openOptions)
    {
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("debugfs");
        string image = Path.Combine(_dir, name + ".img");
        long fsBlocks = 8L * 1024 * 1024 / blockSize;
        TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-b", blockSize.ToString(), "-O", features,
            image, fsBlocks.ToString()]);
        var data = new byte[blockSize * 4];
        new Random(7).NextBytes(data);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(blockSize), 0xC03B3998);
        string dataFile = Path.Combine(_dir, "data");
        File.WriteAllBytes(dataFile, data);
        long t = fsBlocks / 2;
        File.WriteAllText(Path.Combine(_dir, name + ".cmd"), string.Join('\n',
            $"jo {openOptions}", $"jw -b {t},{t + 1},{t + 2} {dataFile}", $"jw -r {t}", $"jw -b {t + 3},{t + 1} {dataFile}",
            $"jw -b {t + 4} {dataFile}", "jc", ""));
        TestEnvironment.RunChecked("debugfs", ["-w", "-f", Path.Combine(_dir, name + ".cmd"), image]);
        return JournalImage.Inspect(image);
    }

    [SkippableTheory]
    [InlineData("csum-v3-64bit-1k", 1024, "metadata_csum,64bit", "-c")]
    [InlineData("csum-v2-64bit-4k", 4096, "metadata_csum,64bit", "-c -v 2")]
    [InlineData("plain-32bit-1k", 1024, "^metadata_csum,^64bit", "")]
    [InlineData("plain-64bit-4k", 4096, "^metadata_csum,64bit", "")]
    public void Corrupted_debugfs_journals_fail_cleanly(string name, int blockSize, string features, string openOptions)
    {
        var info = MakeImage(name, blockSize, features, openOptions);
        Fuzz(info, name.GetHashCode(StringComparison.Ordinal));
    }

    [SkippableFact]
    public void Corrupted_corpus_journal_fails_cleanly()
    {
        TestEnvironment.RequireTool("debugfs");
        string compressed = Path.Combine(TestEnvironment.DataDir, "e2fsprogs", "j_recover_csum2_64bit", "image.bz2");
        Skip.IfNot(File.Exists(compressed), $"{compressed} is missing");
        var info = JournalImage.Inspect(JournalImage.Decompress(compressed, _dir, "j_recover_csum2_64bit.img"));
        Fuzz(info, 12345);
    }

    [SkippableFact]
    public void Unknown_incompat_feature_is_refused_by_name()
    {
        var info = MakeImage("unknown-incompat", 1024, "^metadata_csum,^64bit", "");
        byte[] bytes = File.ReadAllBytes(info.Path);
        long sb = info.JournalMap[0] * info.BlockSize;
        uint incompat = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan((int)sb + 0x28));
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan((int)sb + 0x28), incompat | 0x100);
        using var device = BlockSource.FromBytes(bytes);
        var e = Assert.Throws<UnsupportedImageException>(() => info.Replay(device, []));
        Assert.Equal(ImageErrorKind.Unsupported, e.Kind);
        Assert.Equal("jbd2 journal superblock", e.Structure);
        Assert.Equal(sb, e.Offset);
    }

    [SkippableFact]
    public void Hole_in_the_journal_stops_replay_before_the_transaction_with_a_warning()
    {
        var info = MakeImage("hole", 1024, "^metadata_csum,^64bit", "");
        using var device = BlockSource.OpenFile(info.Path);
        // Transaction 1 is journal blocks 1-5 (descriptor, 3 data, commit); make block 7 (in transaction 2) a hole.
        var warnings = new List<string>();
        var result = Jbd2Journal.Replay(device, info.BlockSize, j => j == 7 ? -1 : info.Map(j), info.JournalBlocks,
            warnings.Add);
        var overlay = Assert.IsType<JournalOverlayBlockSource>(result);
        Assert.Equal(3, overlay.ReplayedBlockCount);
        Assert.Contains(warnings, w => w.Contains("journal block 7 is a hole", StringComparison.Ordinal));
    }

    /// <summary>
    /// MakeImage's journal (csum v3): tx 1 = descriptor at journal block 1, data 2-4, commit 5; tx 2 = revoke 6,
    /// commit 7; tx 3 = descriptor 8, data 9-10, commit 11; tx 4 = descriptor 12, data 13, commit 14.
    /// A damaged commit block of tx 3 ends recovery before tx 3, exactly as e2fsprogs does.
    /// </summary>
    [SkippableFact]
    public void Bad_commit_checksum_in_a_later_transaction_matches_e2fsprogs()
    {
        var info = MakeImage("bad-commit", 1024, "metadata_csum,64bit", "-c");
        AssertLayout(info);
        Damage(info, journalBlock: 11);
        var warnings = new List<string>();
        using var device = BlockSource.OpenFile(info.Path);
        var overlay = Assert.IsType<JournalOverlayBlockSource>(info.Replay(device, warnings));
        Assert.Equal([4097L, 4098L], overlay.ReplayedBlocks); // 4096 is revoked by tx 2
        Assert.Contains(warnings, w => w.Contains("transaction 3 was corrupt", StringComparison.Ordinal));
        string oracle = info.OracleReplay(_dir, out _);
        ReplayAssert.MatchesOracle(overlay, oracle, info.BlockSize, GeneratedJournalTests.Exclusions(info), "bad-commit");
    }

    /// <summary>
    /// A damaged descriptor block of tx 3. Here e2fsprogs (like the kernel) fails the whole recovery ("Bad CRC
    /// detected") and replays nothing; RootfsForge deliberately replays the committed, checksum-valid transactions before
    /// it (a prefix of committed transactions is a consistent state) and warns.
    /// </summary>
    [SkippableFact]
    public void Bad_descriptor_checksum_replays_only_the_transactions_before_it()
    {
        var info = MakeImage("bad-descriptor", 1024, "metadata_csum,64bit", "-c");
        AssertLayout(info);
        Damage(info, journalBlock: 8);
        var warnings = new List<string>();
        using var device = BlockSource.OpenFile(info.Path);
        var overlay = Assert.IsType<JournalOverlayBlockSource>(info.Replay(device, warnings));
        Assert.Equal([4097L, 4098L], overlay.ReplayedBlocks);
        Assert.Contains(warnings, w => w.Contains("descriptor block at journal block 8", StringComparison.Ordinal) &&
                                       w.Contains("transaction 3", StringComparison.Ordinal));
    }

    private static void AssertLayout(JournalImage info)
    {
        string log = TestEnvironment.RunChecked("debugfs", ["-R", "logdump", info.Path]);
        Assert.Contains("sequence 3, type 1 (descriptor block) at block 8", log);
        Assert.Contains("sequence 3, type 2 (commit block) at block 11", log);
    }

    private static void Damage(JournalImage info, long journalBlock)
    {
        using var file = new FileStream(info.Path, FileMode.Open, FileAccess.ReadWrite);
        file.Position = info.JournalMap[journalBlock] * info.BlockSize + 512;
        int old = file.ReadByte();
        file.Position--;
        file.WriteByte((byte)(old ^ 0xFF));
    }

    private void Fuzz(JournalImage info, int seed)
    {
        byte[] bytes = File.ReadAllBytes(info.Path);
        int bs = info.BlockSize;
        var random = new Random(seed);
        int failures = 0, replays = 0;
        for (int round = 0; round < Seeds; round++)
        {
            var undo = new List<(int At, byte Old)>();
            Func<long, long> map = info.Map;
            int edits = 1 + random.Next(6);
            for (int e = 0; e < edits; e++)
            {
                long journalBlock = random.Next(4) == 0 ? 0 : random.Next(1, 24);
                long fs = info.JournalMap[journalBlock];
                // Mostly header fields (magic, type, sequence, r_count, first tags), sometimes anywhere in the block.
                int within = random.Next(3) switch
                {
                    0 => random.Next(0, 64),
                    1 => random.Next(0, Math.Min(bs, 1024)),
                    _ => random.Next(0, bs),
                };
                int at = (int)(fs * bs) + within;
                undo.Add((at, bytes[at]));
                bytes[at] = random.Next(3) == 0 ? (byte)(bytes[at] ^ (1 << random.Next(8))) : (byte)random.Next(256);
            }
            if (random.Next(8) == 0)
            {
                long bad = random.Next(1, 24);
                long target = random.Next(3) switch { 0 => -1, 1 => long.MaxValue / 2, _ => random.Next(0, (int)(bytes.Length / bs)) };
                map = j => j == bad ? target : info.Map(j);
            }

            var device = BlockSource.FromBytes(bytes);
            var task = Task.Run(() =>
            {
                try
                {
                    var result = Jbd2Journal.Replay(device, bs, map, info.JournalBlocks, _ => { });
                    Assert.Equal(device.Length, result.Length);
                    var buffer = new byte[bs * 3 + 17];
                    for (long at = 0; at < result.Length; at += buffer.Length) result.ReadAt(at, buffer);
                    return true;
                }
                catch (ImageFormatException)
                {
                    return false;
                }
            });
            Assert.True(task.Wait(TimeSpan.FromSeconds(10)), $"round {round} of seed {seed} did not finish within 10 s");
            if (task.Result) replays++; else failures++;

            for (int i = undo.Count - 1; i >= 0; i--) bytes[undo[i].At] = undo[i].Old;
        }
        Assert.Equal(Seeds, replays + failures);
        output.WriteLine($"{info.Path}: {replays} rounds replayed (possibly partially), {failures} ended in ImageFormatException");
    }
}
