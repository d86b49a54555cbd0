using System.Buffers.Binary;
using RootfsForge.NativeTests.Support;
using RootfsForge.Ext4.Journal;
using Xunit;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Journal;

/// <summary>
/// Journals written by e2fsprogs' debugfs (journal_open / journal_write / journal_close, as upstream's j_short_trans*
/// tests do) and left unreplayed; the oracle is the same image after <c>debugfs -w -R journal_run</c>.
/// </summary>
public sealed class GeneratedJournalTests : IDisposable
{
    private readonly string _dir = TestEnvironment.NewTempDir("rff-journal");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string, int, string, string> Configurations => new()
    {
        // name, block size, mke2fs -O, journal_open options
        { "csum-v3-64bit-4k", 4096, "metadata_csum,64bit", "-c" },
        { "csum-v3-64bit-1k", 1024, "metadata_csum,64bit", "-c" },
        { "csum-v2-64bit-1k", 1024, "metadata_csum,64bit", "-c -v 2" },
        { "csum-v3-32bit-4k", 4096, "metadata_csum,^64bit", "-c" },
        { "plain-64bit-4k", 4096, "^metadata_csum,64bit", "" },
        { "plain-32bit-1k", 1024, "^metadata_csum,^64bit", "" },
    };

    /// <summary>
    /// Six transactions: (1) T0,T1,T2 where T2's data starts with the JBD2 magic (escaped); (2) revoke T0; (3) T1 again
    /// and T3; (4) T0 again after its revoke; (5) revoke T3; (6) T4, never committed.
    /// Expected: T0 = tx 4's copy, T1 = tx 3's, T2 = tx 1's with the magic restored, T3 and T4 untouched.
    /// </summary>
    private string MakeImage(string name, int blockSize, string features, string openOptions, out long[] targets,
        out byte[][] files)
    {
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("debugfs");
        string image = Path.Combine(_dir, name + ".img");
        long fsBlocks = 16L * 1024 * 1024 / blockSize;
        TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-b", blockSize.ToString(), "-O", features,
            image, fsBlocks.ToString()]);
        long t = fsBlocks * 3 / 4; // data-area blocks, free in a fresh filesystem
        targets = [t, t + 1, t + 2, t + 5, t + 9];

        var random = new Random(name.GetHashCode(StringComparison.Ordinal) & 0x7fffffff);
        files = new byte[3][];
        for (int i = 0; i < files.Length; i++)
        {
            files[i] = new byte[blockSize * 3];
            random.NextBytes(files[i]);
            File.WriteAllBytes(Path.Combine(_dir, $"data{i}"), files[i]);
        }
        BinaryPrimitives.WriteUInt32BigEndian(files[0].AsSpan(2 * blockSize), 0xC03B3998);
        File.WriteAllBytes(Path.Combine(_dir, "data0"), files[0]);

        string d0 = Path.Combine(_dir, "data0"), d1 = Path.Combine(_dir, "data1"), d2 = Path.Combine(_dir, "data2");
        string commands = string.Join('\n',
            $"jo {openOptions}",
            $"jw -b {targets[0]},{targets[1]},{targets[2]} {d0}",
            $"jw -r {targets[0]}",
            $"jw -b {targets[1]},{targets[3]} {d1}",
            $"jw -b {targets[0]} {d2}",
            $"jw -r {targets[3]}",
            $"jw -b {targets[4]} -c {d0}",
            "jc", "");
        string cmdFile = Path.Combine(_dir, name + ".cmd");
        File.WriteAllText(cmdFile, commands);
        TestEnvironment.RunChecked("debugfs", ["-w", "-f", cmdFile, image]);
        string header = TestEnvironment.RunChecked("dumpe2fs", ["-h", image]);
        Assert.Contains("needs_recovery", header);
        return image;
    }

    [SkippableTheory]
    [MemberData(nameof(Configurations))]
    public void Replay_matches_e2fsprogs_journal_run(string name, int blockSize, string features, string openOptions)
    {
        string image = MakeImage(name, blockSize, features, openOptions, out long[] t, out byte[][] files);
        var info = JournalImage.Inspect(image);
        var warnings = new List<string>();
        using var device = BlockSource.OpenFile(image);
        var replayed = info.Replay(device, warnings);
        var overlay = Assert.IsType<JournalOverlayBlockSource>(replayed);
        Assert.Empty(warnings);

        // What the transactions say, independent of e2fsprogs.
        Assert.Equal(files[2].AsSpan(0, blockSize).ToArray(), ReplayAssert.ReadBlock(overlay, t[0], blockSize));
        Assert.Equal(files[1].AsSpan(0, blockSize).ToArray(), ReplayAssert.ReadBlock(overlay, t[1], blockSize));
        Assert.Equal(files[0].AsSpan(2 * blockSize, blockSize).ToArray(), ReplayAssert.ReadBlock(overlay, t[2], blockSize));
        Assert.Equal(ReplayAssert.ReadBlock(device, t[3], blockSize), ReplayAssert.ReadBlock(overlay, t[3], blockSize));
        Assert.Equal(ReplayAssert.ReadBlock(device, t[4], blockSize), ReplayAssert.ReadBlock(overlay, t[4], blockSize));
        Assert.DoesNotContain(t[3], overlay.ReplayedBlocks);
        Assert.DoesNotContain(t[4], overlay.ReplayedBlocks);

        // And against e2fsprogs' own replay, block by block over the whole filesystem.
        string oracle = info.OracleReplay(_dir, out _);
        ReplayAssert.MatchesOracle(overlay, oracle, blockSize, Exclusions(info), name);
    }

    /// <summary>
    /// The same journal with its log rotated inside the circular area, so that s_start is near the end and a
    /// transaction wraps from the last log block to s_first. Checksums of v2/v3 blocks do not cover positions, so the
    /// rotated journal is valid; only the journal superblock (s_start, s_checksum) is rewritten.
    /// </summary>
    [SkippableTheory]
    [InlineData("wrap-csum-v3-4k", 4096, "metadata_csum,64bit", "-c", 3)]
    [InlineData("wrap-plain-1k", 1024, "^metadata_csum,^64bit", "", 5)]
    public void Wrapped_log_matches_e2fsprogs_journal_run(string name, int blockSize, string features, string openOptions,
        int blocksBeforeWrap)
    {
        string image = MakeImage(name, blockSize, features, openOptions, out long[] t, out byte[][] files);
        var info = JournalImage.Inspect(image);
        RotateLog(image, info, blocksBeforeWrap);

        var warnings = new List<string>();
        using var device = BlockSource.OpenFile(image);
        var overlay = Assert.IsType<JournalOverlayBlockSource>(info.Replay(device, warnings));
        Assert.Empty(warnings);
        Assert.Equal(files[2].AsSpan(0, blockSize).ToArray(), ReplayAssert.ReadBlock(overlay, t[0], blockSize));
        Assert.Equal(files[0].AsSpan(2 * blockSize, blockSize).ToArray(), ReplayAssert.ReadBlock(overlay, t[2], blockSize));

        string oracle = info.OracleReplay(_dir, out _);
        ReplayAssert.MatchesOracle(overlay, oracle, blockSize, Exclusions(info), name);
    }

    /// <summary>
    /// A version-1 journal superblock (block type 3, as ext3 of old wrote): it has no feature fields, so tags are the
    /// 8-byte 32-bit form. A plain 32-bit debugfs journal is relabelled v1 (its feature words cleared) and compared
    /// with e2fsprogs' replay of the same relabelled image.
    /// </summary>
    [SkippableFact]
    public void Version1_superblock_matches_e2fsprogs_journal_run()
    {
        string image = MakeImage("v1", 1024, "^metadata_csum,^64bit", "", out long[] t, out byte[][] files);
        var info = JournalImage.Inspect(image);
        using (var file = new FileStream(image, FileMode.Open, FileAccess.ReadWrite))
        {
            var sb = new byte[1024];
            file.Position = info.JournalMap[0] * 1024;
            file.ReadExactly(sb);
            Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(sb.AsSpan(0x28)) & ~1u); // at most REVOKE
            BinaryPrimitives.WriteUInt32BigEndian(sb.AsSpan(4), 3);
            sb.AsSpan(0x24, 12).Clear();
            file.Position = info.JournalMap[0] * 1024;
            file.Write(sb);
        }

        var warnings = new List<string>();
        using var device = BlockSource.OpenFile(image);
        var overlay = Assert.IsType<JournalOverlayBlockSource>(info.Replay(device, warnings));
        Assert.Empty(warnings);
        Assert.Equal(files[1].AsSpan(0, 1024).ToArray(), ReplayAssert.ReadBlock(overlay, t[1], 1024));
        string oracle = info.OracleReplay(_dir, out _);
        ReplayAssert.MatchesOracle(overlay, oracle, 1024, Exclusions(info), "v1");
    }

    [SkippableFact]
    public void Clean_journal_returns_the_device_itself()
    {
        TestEnvironment.RequireTool("mke2fs");
        string image = Path.Combine(_dir, "clean.img");
        TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", image, "4096"]);
        var info = JournalImage.Inspect(image);
        var warnings = new List<string>();
        using var device = BlockSource.OpenFile(image);
        Assert.Same(device, info.Replay(device, warnings));
        Assert.Empty(warnings);
    }

    /// <summary>
    /// Blocks e2fsprogs rewrites after its replay, so they are not pure replay output: the superblock and every
    /// group-descriptor copy (ext2fs_close writes them from memory with needs_recovery cleared and new checksums), and
    /// the journal superblock (journal_run resets s_start and s_sequence).
    /// </summary>
    internal static IReadOnlySet<long> Exclusions(JournalImage info)
    {
        var set = info.SuperblockAndDescriptorBlocks();
        set.Add(info.JournalMap[0]);
        return set;
    }

    private static void RotateLog(string image, JournalImage info, int blocksBeforeWrap)
    {
        int bs = info.BlockSize;
        using var file = new FileStream(image, FileMode.Open, FileAccess.ReadWrite);
        var sb = new byte[bs];
        ReadAt(file, info.JournalMap[0] * bs, sb);
        uint maxLen = BinaryPrimitives.ReadUInt32BigEndian(sb.AsSpan(0x10));
        uint first = BinaryPrimitives.ReadUInt32BigEndian(sb.AsSpan(0x14));
        uint start = BinaryPrimitives.ReadUInt32BigEndian(sb.AsSpan(0x1C));
        Assert.Equal(first, start);
        long logLength = maxLen - first;
        long shift = logLength - blocksBeforeWrap;

        var log = new byte[logLength][];
        for (long i = 0; i < logLength; i++)
        {
            log[i] = new byte[bs];
            ReadAt(file, info.JournalMap[first + i] * bs, log[i]);
        }
        for (long i = 0; i < logLength; i++)
        {
            long to = (i + shift) % logLength;
            file.Position = info.JournalMap[first + to] * bs;
            file.Write(log[i]);
        }

        BinaryPrimitives.WriteUInt32BigEndian(sb.AsSpan(0x1C), (uint)(first + shift));
        uint incompat = BinaryPrimitives.ReadUInt32BigEndian(sb.AsSpan(0x28));
        if ((incompat & 0x18) != 0)
        {
            // jbd2_superblock_csum: crc32c(~0) over the 1024-byte superblock with s_checksum zeroed (raw, no inversion).
            BinaryPrimitives.WriteUInt32BigEndian(sb.AsSpan(0xFC), 0);
            uint crc = ~0u;
            foreach (byte b in sb.AsSpan(0, 1024)) crc = System.Numerics.BitOperations.Crc32C(crc, b);
            BinaryPrimitives.WriteUInt32BigEndian(sb.AsSpan(0xFC), crc);
        }
        file.Position = info.JournalMap[0] * bs;
        file.Write(sb);
    }

    private static void ReadAt(FileStream file, long offset, byte[] buffer)
    {
        file.Position = offset;
        file.ReadExactly(buffer);
    }
}
