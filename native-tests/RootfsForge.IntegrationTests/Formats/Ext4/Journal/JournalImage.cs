using System.Text.RegularExpressions;
using RootfsForge.NativeTests.Support;
using RootfsForge.Disks;
using RootfsForge.Ext4.Journal;

namespace RootfsForge.NativeTests.Journal;

/// <summary>
/// An ext4 image file with what the journal replay needs, learnt from e2fsprogs (not from RootfsForge's own ext4 reader):
/// the block size from dumpe2fs, the journal inode's block map and size from <c>debugfs stat &lt;8&gt;</c>.
/// </summary>
internal sealed partial class JournalImage
{
    public required string Path { get; init; }
    public required int BlockSize { get; init; }
    public required long[] JournalMap { get; init; }

    public long JournalBlocks => JournalMap.Length;

    public static JournalImage Inspect(string path)
    {
        // dumpe2fs exits 1 when the journal superblock is bad, after printing the filesystem header.
        string header = TestEnvironment.Run("dumpe2fs", ["-h", path]).StdOut;
        int blockSize = int.Parse(BlockSizeLine().Match(header).Groups[1].Value);
        string stat = TestEnvironment.RunChecked("debugfs", ["-R", "stat <8>", path]);
        long size = long.Parse(SizeField().Match(stat).Groups[1].Value);
        var map = new long[size / blockSize];
        Array.Fill(map, -1L);
        int at = Math.Max(stat.IndexOf("EXTENTS:", StringComparison.Ordinal), stat.IndexOf("BLOCKS:", StringComparison.Ordinal));
        if (at < 0) throw new InvalidOperationException("debugfs stat <8> shows no EXTENTS/BLOCKS:\n" + stat);
        foreach (Match m in MapEntry().Matches(stat, at))
        {
            long lFirst = long.Parse(m.Groups[1].Value);
            long lLast = m.Groups[2].Success ? long.Parse(m.Groups[2].Value) : lFirst;
            long pFirst = long.Parse(m.Groups[3].Value);
            for (long l = lFirst; l <= lLast && l < map.Length; l++) map[l] = pFirst + (l - lFirst);
        }
        return new JournalImage { Path = path, BlockSize = blockSize, JournalMap = map };
    }

    public long Map(long logical) => logical >= 0 && logical < JournalMap.Length ? JournalMap[logical] : -1;

    public BlockSource Replay(BlockSource device, List<string> warnings) =>
        Jbd2Journal.Replay(device, BlockSize, Map, JournalBlocks, warnings.Add);

    /// <summary>Blocks holding a superblock or group descriptor copy (primary and backups), from dumpe2fs.</summary>
    public HashSet<long> SuperblockAndDescriptorBlocks()
    {
        string text = TestEnvironment.Run("dumpe2fs", [Path]).StdOut;
        var set = new HashSet<long>();
        foreach (Match m in SuperLine().Matches(text))
        {
            set.Add(long.Parse(m.Groups[1].Value));
            long a = long.Parse(m.Groups[2].Value), b = long.Parse(m.Groups[3].Value);
            for (long x = a; x <= b; x++) set.Add(x);
        }
        if (set.Count == 0) set.Add(1024 / BlockSize);
        return set;
    }

    /// <summary>Decompresses a corpus image (image.gz / image.bz2) into <paramref name="dir"/>.</summary>
    public static string Decompress(string compressed, string dir, string name)
    {
        string output = System.IO.Path.Combine(dir, name);
        string tool = compressed.EndsWith(".bz2", StringComparison.Ordinal) ? "bzip2" : "gzip";
        TestEnvironment.RunChecked("/bin/sh", ["-c", $"{tool} -dc \"$1\" > \"$2\"", "sh", compressed, output]);
        return output;
    }

    /// <summary>Copies the image and lets e2fsprogs replay the journal on the copy (<c>debugfs -w -R journal_run</c>).</summary>
    public string OracleReplay(string dir, out string debugfsOutput)
    {
        string copy = System.IO.Path.Combine(dir, System.IO.Path.GetFileName(Path) + ".e2fsprogs-replayed");
        File.Copy(Path, copy, overwrite: true);
        var (_, o, e) = TestEnvironment.Run("debugfs", ["-w", "-R", "jr", copy], timeout: TimeSpan.FromSeconds(60));
        debugfsOutput = o + e;
        return copy;
    }

    /// <summary>
    /// Copies the image with its fast-commit area zeroed and lets <c>e2fsck -fy</c> replay the copy: debugfs 1.47.0's
    /// journal_run does not replay journals with the FAST_COMMIT feature at all, and e2fsck would also apply the
    /// fast-commit records, which RootfsForge does not. Returns the copy and the zeroed fs blocks.
    /// </summary>
    public string OracleReplayWithoutFastCommits(string dir, out HashSet<long> fastCommitBlocks)
    {
        string copy = System.IO.Path.Combine(dir, System.IO.Path.GetFileName(Path) + ".e2fsck-replayed");
        File.Copy(Path, copy, overwrite: true);
        fastCommitBlocks = [];
        using (var file = new FileStream(copy, FileMode.Open, FileAccess.ReadWrite))
        {
            var sb = new byte[1024];
            file.Position = JournalMap[0] * BlockSize;
            file.ReadExactly(sb);
            uint maxLen = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(sb.AsSpan(0x10));
            uint incompat = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(sb.AsSpan(0x28));
            uint numFc = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(sb.AsSpan(0x54));
            if ((incompat & 0x20) != 0)
            {
                if (numFc == 0) numFc = 256;
                var zeros = new byte[BlockSize];
                for (long j = maxLen - numFc; j < maxLen; j++)
                {
                    fastCommitBlocks.Add(JournalMap[j]);
                    file.Position = JournalMap[j] * BlockSize;
                    file.Write(zeros);
                }
            }
        }
        TestEnvironment.Run("e2fsck", ["-fy", copy], timeout: TimeSpan.FromSeconds(60));
        return copy;
    }

    [GeneratedRegex(@"^Block size:\s+(\d+)", RegexOptions.Multiline)]
    private static partial Regex BlockSizeLine();

    [GeneratedRegex(@"Size:\s+(\d+)")]
    private static partial Regex SizeField();

    [GeneratedRegex(@"\((\d+)(?:-(\d+))?\):(\d+)(?:-(\d+))?")]
    private static partial Regex MapEntry();

    [GeneratedRegex(@"superblock at (\d+), Group descriptors at (\d+)-(\d+)")]
    private static partial Regex SuperLine();
}
