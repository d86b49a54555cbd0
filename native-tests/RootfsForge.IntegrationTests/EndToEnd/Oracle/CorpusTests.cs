using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Oracle;

/// <summary>
/// native-tests/data/e2fsprogs (README.md there): every clean image extracts and matches the kernel's view (or, where the
/// kernel refuses it, debugfs rdump minus its documented quirks); every corrupt image extracts or stops with one clear
/// error within 10 s, without crash, unbounded memory or writes outside the output.
/// </summary>
[Collection(OracleCollection.Name)]
public sealed class CorpusTests
{
    private static string CorpusDir => Path.Combine(TestEnvironment.DataDir, "e2fsprogs");

    private static IEnumerable<string[]> Rows(string cls)
    {
        var manifest = Path.Combine(CorpusDir, "MANIFEST.tsv");
        if (!File.Exists(manifest)) return [];
        return File.ReadAllLines(manifest).Skip(1).Select(l => l.Split('\t'))
            .Where(c => c.Length >= 4 && c[3] == cls && c[1].StartsWith("image.", StringComparison.Ordinal));
    }

    public static TheoryData<string, string> Clean => ToData(Rows("clean"));
    public static TheoryData<string, string> Corrupt => ToData(Rows("corrupt"));

    private static TheoryData<string, string> ToData(IEnumerable<string[]> rows)
    {
        var data = new TheoryData<string, string>();
        foreach (var c in rows) data.Add(c[0], c[1]);
        if (data.Count == 0) data.Add("(corpus missing)", "");
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Clean))]
    public void CleanImageMatchesKernelOrDebugfs(string test, string file)
    {
        Skip.If(file.Length == 0, $"corpus not found at {CorpusDir}");
        TestEnvironment.RequireRoot("the oracle is a read-only loop mount");
        TestEnvironment.RequireTool("python3");
        var work = TestEnvironment.NewTempDir("rff-corpus");
        try
        {
            var img = Decompress(Path.Combine(CorpusDir, test, file), work);
            var tar = Path.Combine(work, "x.tar");
            var (code, _, stderr) = OracleCli.Run("extract", img, "-o", tar, "--quiet");
            Assert.True(code == 0, $"{test}: rootfsforge extract exit {code}: {Comparer.Truncate(stderr, 3000)}");
            using var mount = LoopMount.TryReadOnly(img, 0, out var mountError);
            if (mount is not null)
            {
                Comparer.AssertEqual($"{test} vs kernel", "--tar", tar, "--root", mount.Path, "--debugfs-image", img);
                return;
            }
            // The kernel refuses it: debugfs rdump is the reference (types, contents, symlink targets only).
            TestEnvironment.RequireTool("debugfs");
            var dump = Path.Combine(work, "rdump");
            Directory.CreateDirectory(dump);
            TestEnvironment.RunChecked("debugfs", ["-R", $"rdump / {dump}", img], timeout: TimeSpan.FromMinutes(2));
            Comparer.AssertEqual($"{test} vs debugfs rdump (kernel refused: {mountError.Trim()})",
                "--tar", tar, "--root", dump, "--rdump");
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Corrupt))]
    public void CorruptImageExtractsOrFailsCleanly(string test, string file)
    {
        Skip.If(file.Length == 0, $"corpus not found at {CorpusDir}");
        TestEnvironment.RequireRoot("directory output as root recreates owners and devices, as users run it");
        var work = TestEnvironment.NewTempDir("rff-corrupt");
        try
        {
            var img = Decompress(Path.Combine(CorpusDir, test, file), work);
            var problems = GuardedCli.ExtractChecked(img, alsoDirectory: true);
            Assert.True(problems.Count == 0, $"{test}:\n" + string.Join("\n", problems));
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
    }

    /// <summary>gzip/bzip2 -dc into a sparse file.</summary>
    private static string Decompress(string source, string work)
    {
        var tool = source.EndsWith(".bz2", StringComparison.Ordinal) ? "bzip2" : "gzip";
        var img = Path.Combine(work, "image.img");
        TestEnvironment.RunChecked("bash", ["-c", $"{tool} -dc \"$1\" | dd of=\"$2\" bs=64K conv=sparse status=none",
            "decompress", source, img], timeout: TimeSpan.FromMinutes(2));
        return img;
    }
}
