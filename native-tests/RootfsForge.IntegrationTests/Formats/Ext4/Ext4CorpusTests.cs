using System.Security.Cryptography;
using RootfsForge.NativeTests.Support;
using RootfsForge.Ext4;
using RootfsForge.Tree;
using Xunit;
using Xunit.Abstractions;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>
/// The e2fsprogs test images (native-tests/data/e2fsprogs): clean images must walk fully and match what debugfs rdump
/// extracts; corrupt images must walk or fail with <see cref="ImageFormatException"/> quickly and with bounded memory.
/// </summary>
public class Ext4CorpusTests(ITestOutputHelper output)
{
    private static string CorpusDir => Path.Combine(TestEnvironment.DataDir, "e2fsprogs");

    private static IEnumerable<string[]> Rows() =>
        File.Exists(Path.Combine(CorpusDir, "MANIFEST.tsv"))
            ? File.ReadAllLines(Path.Combine(CorpusDir, "MANIFEST.tsv")).Skip(1).Select(l => l.Split('\t')).Where(r => r.Length >= 4)
            : [];

    public static TheoryData<string, string> CleanImages()
    {
        var data = new TheoryData<string, string>();
        foreach (var r in Rows().Where(r => r[3] == "clean")) data.Add(r[0], r[1]);
        return data;
    }

    public static TheoryData<string, string> CorruptImages()
    {
        var data = new TheoryData<string, string>();
        foreach (var r in Rows().Where(r => r[3] != "clean")) data.Add(r[0], r[1]);
        return data;
    }

    private static readonly Lock Gate = new();

    /// <summary>Decompresses a corpus image into the fixture cache (once).</summary>
    internal static string Decompressed(string test, string file)
    {
        string src = Path.Combine(CorpusDir, test, file);
        Skip.IfNot(File.Exists(src), $"corpus file {src} is missing");
        string dir = Path.Combine(Ext4Fixtures.Dir, "corpus");
        Directory.CreateDirectory(dir);
        string dst = Path.Combine(dir, $"{test}-{Path.GetFileNameWithoutExtension(file)}.img");
        lock (Gate)
        {
            if (File.Exists(dst)) return dst;
            string tool = file.EndsWith(".bz2", StringComparison.Ordinal) ? "bzip2" : "gzip";
            TestEnvironment.RequireTool(tool);
            string tmp = dst + ".tmp";
            TestEnvironment.RunChecked("bash", ["-c", $"{tool} -dc \"$0\" > \"$1\"", src, tmp]);
            File.Move(tmp, dst, overwrite: true);
            return dst;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(CleanImages))]
    public void CleanImageMatchesDebugfsRdump(string test, string file)
    {
        TestEnvironment.RequireTool("debugfs");
        TestEnvironment.RequireTool("python3");
        string image = Decompressed(test, file);
        string outDir = TestEnvironment.NewTempDir("rff-rdump");
        try
        {
            TestEnvironment.RunChecked("debugfs", ["-R", $"rdump / {outDir}", image], timeout: TimeSpan.FromMinutes(5));
            // rdump puts the root's children into OUT/ (named after the root, which is "").
            var oracle = Ext4Fixtures.Manifest(outDir)
                .ToDictionary(m => FileNameEncoding.GetString(Convert.FromHexString(m.GetProperty("path").GetString()!)));

            using var device = BlockSource.OpenFile(image);
            using var fs = Ext4FileSystem.Open(device);
            var entries = fs.Walk().ToList();
            foreach (var w in fs.Warnings) output.WriteLine("warning: " + w);
            var byPath = entries.ToDictionary(e => e.Path);
            int compared = 0;
            foreach (var e in entries)
            {
                if (e.Path.Length == 0) continue;
                if (e.Type is EntryType.CharacterDevice or EntryType.BlockDevice or EntryType.Fifo or EntryType.Socket) continue;
                if (e.Type == EntryType.HardLink && byPath[e.LinkTarget!].Type != EntryType.RegularFile) continue;
                Assert.True(oracle.TryGetValue(e.Path, out var m), $"{test}: {e.Path} is not in debugfs rdump's output");
                string type = m.GetProperty("type").GetString()!;
                switch (e.Type)
                {
                    case EntryType.Directory:
                        Assert.Equal("dir", type);
                        break;
                    case EntryType.SymbolicLink:
                        Assert.Equal("lnk", type);
                        Assert.Equal(m.GetProperty("target").GetString(), Convert.ToHexString(FileNameEncoding.GetBytes(e.LinkTarget!)).ToLowerInvariant());
                        break;
                    default:
                        Assert.Equal("reg", type);
                        using (var content = e.OpenContent!())
                        using (var stream = content.OpenStream())
                        {
                            byte[] ours = new byte[content.Length];
                            stream.ReadExactly(ours);
                            string theirs = Path.Combine(outDir, e.Path);
                            byte[] dump = File.ReadAllBytes(theirs);
                            if (!dump.AsSpan().SequenceEqual(ours))
                            {
                                // debugfs 1.47.0 pads inline-data files shorter than their inline area with zeros (README).
                                bool padded = dump.Length <= 60 && dump.Length > ours.Length
                                    && dump.AsSpan(0, ours.Length).SequenceEqual(ours) && !dump.AsSpan(ours.Length).ContainsAnyExcept((byte)0);
                                Assert.True(padded, $"{test}: content of {e.Path} differs ({ours.Length} vs {dump.Length} bytes)");
                            }
                        }
                        break;
                }
                compared++;
            }
            // Everything rdump wrote must be in the walk too.
            foreach (var p in oracle.Keys.Where(p => p.Length > 0))
                Assert.True(byPath.ContainsKey(p), $"{test}: rdump wrote {p}, the walk lacks it");
            output.WriteLine($"{test}: {entries.Count} entries, {compared} compared with debugfs");
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(CorruptImages))]
    public void CorruptImageWalksOrFailsCleanly(string test, string file)
    {
        string image = Decompressed(test, file);
        // 10 s each; the README's heavy images (130,000+ entries) get more room on a loaded 2-core machine.
        var limit = TimeSpan.FromSeconds(test is "f_many_subdirs" or "f_h_badnode" or "f_h_reindex" ? 30 : 10);
        var outcome = Ext4Robustness.RunBounded(image, limit, verify: false);
        output.WriteLine($"{test}: {outcome}");
        Assert.True(outcome.Ok, $"{test}: {outcome}");
        // With checksum verification too: still only ImageFormatException.
        var verified = Ext4Robustness.RunBounded(image, limit, verify: true);
        output.WriteLine($"{test} (verify): {verified}");
        Assert.True(verified.Ok, $"{test} (verify): {verified}");
    }
}

/// <summary>Runs open + walk + content reads on an image under a time limit and classifies the result.</summary>
internal static class Ext4Robustness
{
    internal sealed record Outcome(bool Ok, string Description)
    {
        public override string ToString() => Description;
    }

    private const long MaxContentBytesPerFile = 16L << 20;
    private const long MaxAllocatedBytes = 2L << 30;

    public static Outcome RunBounded(string image, TimeSpan timeout, bool verify)
    {
        using var device = BlockSource.OpenFile(image);
        return RunBounded(device, timeout, verify);
    }

    public static Outcome RunBounded(RootfsForge.Disks.BlockSource device, TimeSpan timeout, bool verify)
    {
        Outcome? result = null;
        using var cts = new CancellationTokenSource();
        var thread = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            int entries = 0, warnings = 0;
            try
            {
                using var fs = Ext4FileSystem.Open(device, new Ext4Options { VerifyChecksums = verify });
                byte[] buf = new byte[1 << 16];
                foreach (var e in fs.Walk(cts.Token))
                {
                    entries++;
                    if (GC.GetAllocatedBytesForCurrentThread() - before > MaxAllocatedBytes)
                    {
                        result = new Outcome(false, $"allocated more than {MaxAllocatedBytes} bytes after {entries} entries");
                        return;
                    }
                    if (e.OpenContent is null || e.Type == EntryType.HardLink) continue;
                    using var c = e.OpenContent();
                    long read = 0;
                    foreach (var s in c.GetDataSegments())
                    {
                        for (long p = s.Offset; p < s.End && read < MaxContentBytesPerFile; p += buf.Length)
                        {
                            int n = (int)Math.Min(buf.Length, s.End - p);
                            c.ReadExactlyAt(p, buf.AsSpan(0, n));
                            read += n;
                        }
                        if (read >= MaxContentBytesPerFile) break;
                    }
                    if (c.Length > 0) c.ReadAt(c.Length - 1, buf.AsSpan(0, 1));
                }
                warnings = fs.Warnings.Count;
                result = new Outcome(true, $"walked {entries} entries with {warnings} warnings");
            }
            catch (ImageFormatException e)
            {
                result = new Outcome(true, $"ImageFormatException after {entries} entries: {e.Message}");
            }
            catch (OperationCanceledException)
            {
                result = new Outcome(false, $"timed out after {entries} entries");
            }
            catch (Exception e)
            {
                result = new Outcome(false, $"{e.GetType().Name} after {entries} entries: {e}");
            }
        }, 64 << 20) { IsBackground = true };
        thread.Start();
        if (!thread.Join(timeout))
        {
            cts.Cancel();
            thread.Join(TimeSpan.FromSeconds(5));
            return result is { Ok: false } ? result : new Outcome(false, $"did not finish within {timeout.TotalSeconds} s (hang?)");
        }
        return result ?? new Outcome(false, "no result");
    }
}
