using System.Text.RegularExpressions;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sources.Disks;
using RootfsForge.Sources.Ext4.Journal;

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
        string header = TestEnvironment.RunChecked("dumpe2fs", ["-h", path]);
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
        string text = TestEnvironment.RunChecked("dumpe2fs", [Path]);
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

    [GeneratedRegex(@"^Block size:\s+(\d+)", RegexOptions.Multiline)]
    private static partial Regex BlockSizeLine();

    [GeneratedRegex(@"Size:\s+(\d+)")]
    private static partial Regex SizeField();

    [GeneratedRegex(@"\((\d+)(?:-(\d+))?\):(\d+)(?:-(\d+))?")]
    private static partial Regex MapEntry();

    [GeneratedRegex(@"superblock at (\d+), Group descriptors at (\d+)-(\d+)")]
    private static partial Regex SuperLine();
}
