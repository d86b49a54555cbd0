using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using RootfsForge.NativeTests.Oracle;
using RootfsForge.NativeTests.Support;
using Xunit;
using Xunit.Abstractions;

namespace RootfsForge.NativeTests.Reliability;

/// <summary>
/// The seeded fuzz test (docs/disk-formats.md §5, Fuzzing): real inputs (<see cref="FuzzInputs"/>) mutated case by case
/// (<see cref="FuzzMutators"/>), each fed to the built CLI in a sandbox. Every run must exit 0 or 3 with one clear
/// message, without a stack trace, within 20 s and 1 GiB RSS, writing nothing outside its output (and no temporary file
/// left in TMPDIR), leaving its input unchanged. Where a reference exists, exit 0 must mean correct data: a qcow2 that
/// qemu-img check finds clean must extract exactly like qemu's own raw conversion of it; an ext4 that e2fsck -fn finds
/// clean must extract (and cat) exactly like the kernel's read-only loop mount of it.
/// <para>
/// Case <c>i</c> of a format uses seed <c>BaseSeed + i</c>; cases run in order (two at a time) until the format's share of
/// the time budget is used: ROOTFSFORGE_RELIABILITY_FUZZ_SECONDS (default 150, for all four formats together) runs
/// longer. ROOTFSFORGE_RELIABILITY_FUZZ_CASE=format:seed[,…] runs just those cases (to reproduce one). A failing case's
/// input is kept under the fixture folder's reliability-fuzz-failures/.
/// </para>
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private const int DefaultBudgetSeconds = 150;
    private const int MinCases = 16;

    private static readonly Dictionary<string, int> BaseSeed = new()
    {
        ["qcow2"] = 1_000_000,
        ["ext4"] = 2_000_000,
        ["fl"] = 3_000_000,
        ["pax"] = 4_000_000,
    };

    /// <summary>A class of rule violations caused by a bug outside this test's area, reported to the lead.</summary>
    /// <param name="Name">Short name.</param>
    /// <param name="Where">What goes wrong and where (file:line, owner).</param>
    /// <param name="Format">The format whose cases show it.</param>
    /// <param name="Pattern">Matches the problem text of a violation of this class.</param>
    /// <param name="Seeds">Seeds that reproduce it: they run first whatever the budget, and at least one must still show it.</param>
    private sealed record KnownFailure(string Name, string Where, string Format, Regex Pattern, int[] Seeds);

    /// <summary>
    /// Known failures: violations matching one of these do not fail the test, but once none of a class's seeds shows it any
    /// more the class must be removed (the test fails until it is). Everything else that breaks the rules fails the test.
    /// </summary>
    private static readonly KnownFailure[] KnownFailures =
    [
    ];

    [SkippableTheory]
    [InlineData("qcow2")]
    [InlineData("ext4")]
    [InlineData("fl")]
    [InlineData("pax")]
    public void MutatedInputsExitCleanlyAndExtractCorrectly(string format)
    {
        FuzzInputs.RequireTools();
        var inputs = FuzzInputs.Get();
        var storeBefore = FuzzRunner.Listing(inputs.Store).ToList();
        var fixtureBefore = Directory.GetFiles(inputs.Dir).ToDictionary(f => f, FuzzRunner.Hash);

        var only = Environment.GetEnvironmentVariable("ROOTFSFORGE_RELIABILITY_FUZZ_CASE");
        int budgetSeconds = int.TryParse(Environment.GetEnvironmentVariable("ROOTFSFORGE_RELIABILITY_FUZZ_SECONDS"),
            out var s) && s > 0 ? s : DefaultBudgetSeconds;
        var budget = TimeSpan.FromSeconds(budgetSeconds / 4.0);

        IEnumerable<int> seeds;
        if (!string.IsNullOrEmpty(only))
        {
            seeds = only.Split(',').Select(c => c.Split(':')).Where(c => c[0] == format)
                .Select(c => int.Parse(c[1], CultureInfo.InvariantCulture)).ToList();
            budget = TimeSpan.FromDays(1);
            Skip.If(!seeds.Any(), $"ROOTFSFORGE_RELIABILITY_FUZZ_CASE names no {format} case");
        }
        else
        {
            var known = KnownFailures.Where(k => k.Format == format).SelectMany(k => k.Seeds).Distinct().ToList();
            seeds = known.Concat(Enumerable.Range(BaseSeed[format], 1_000_000).Except(known));
        }

        // The oracles themselves must agree with the unmutated inputs, or every comparison below is meaningless.
        if (format == "ext4") Control(inputs);

        var results = new ConcurrentBag<(int Seed, FuzzCase Case, List<string> Problems, List<FuzzRun> Runs, int Compared)>();
        var sw = Stopwatch.StartNew();
        using (var enumerator = seeds.GetEnumerator())
        {
            var gate = new object();
            var workers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
            {
                while (true)
                {
                    int seed;
                    lock (gate)
                    {
                        if (!enumerator.MoveNext()) return;
                        seed = enumerator.Current;
                        // Known failures and the first MinCases always run, however slow the machine; then the budget decides.
                        bool isKnown = KnownFailures.Any(k => k.Format == format && k.Seeds.Contains(seed));
                        if (!isKnown && seed - BaseSeed[format] >= MinCases && sw.Elapsed > budget) return;
                    }
                    var c = Make(format, seed, inputs);
                    var (problems, runs, compared) = RunCase(c, inputs);
                    results.Add((seed, c, problems, runs, compared));
                }
            })).ToArray();
            Task.WaitAll(workers);
        }

        var failures = new List<string>();
        var notes = new List<string>();
        var seen = new HashSet<string>();
        foreach (var r in results.OrderBy(r => r.Seed))
        {
            if (r.Problems.Count == 0) continue;
            var unknown = new List<string>();
            foreach (var problem in r.Problems)
            {
                var k = KnownFailures.FirstOrDefault(k => k.Format == format && k.Pattern.IsMatch(problem));
                if (k is null)
                {
                    unknown.Add(problem);
                    continue;
                }
                if (k.Seeds.Contains(r.Seed)) seen.Add(k.Name);
                notes.Add($"known failure {k.Name}, {r.Case}: {FuzzRunner.Tail(problem, 300)}");
            }
            if (unknown.Count > 0) failures.Add($"{r.Case}: {string.Join("; ", unknown)} [input kept as {Keep(r.Case)}]");
        }
        if (string.IsNullOrEmpty(only))
            foreach (var k in KnownFailures.Where(k => k.Format == format && !seen.Contains(k.Name)))
                failures.Add($"known failure {k.Name} no longer shows with seeds {string.Join(", ", k.Seeds)}: remove it from KnownFailures ({k.Where})");

        var all = results.SelectMany(r => r.Runs).ToList();
        output.WriteLine($"{format}: {results.Count} cases (seeds {results.Min(r => r.Seed)}…{results.Max(r => r.Seed)}) in " +
                         $"{sw.Elapsed.TotalSeconds:F1} s, budget {budget.TotalSeconds:F0} s; {all.Count} runs: " +
                         $"{all.Count(r => r.ExitCode == 0)} exit 0, {all.Count(r => r.ExitCode == 3)} exit 3; " +
                         $"{results.Sum(r => r.Compared)} compared with a reference; peak RSS {all.Max(r => r.PeakRssKiB) >> 10} MiB; " +
                         $"slowest run {all.Max(r => r.Elapsed.TotalSeconds):F1} s");
        foreach (var n in notes) output.WriteLine(n);
        foreach (var r in results.OrderBy(r => r.Seed))
            output.WriteLine($"  {r.Case.Seed} {r.Case.Input}: {r.Case.Description} => " +
                             string.Join(", ", r.Runs.Select(x => $"{x.Args[0]}{(x.Args[0] == "fl" ? " " + x.Args[1] : "")}:{x.ExitCode}")));

        // Nothing the runs did may have touched the shared inputs (the .fl's store included).
        Assert.Equal(storeBefore, FuzzRunner.Listing(inputs.Store).ToList());
        foreach (var (file, hash) in fixtureBefore) Assert.True(FuzzRunner.Hash(file) == hash, $"{file} was modified");

        Assert.True(failures.Count == 0,
            $"{failures.Count} of {results.Count} {format} cases broke the rules:\n" + Comparer.Truncate(string.Join("\n", failures), 20000));
        if (string.IsNullOrEmpty(only))
        {
            // Both outcomes must occur, or the mutations are not reaching the parsers.
            Assert.Contains(all, r => r.ExitCode == 0);
            Assert.Contains(all, r => r.ExitCode == 3);
        }
    }

    private static FuzzCase Make(string format, int seed, FuzzInputs inputs) => format switch
    {
        "qcow2" => FuzzMutators.Binary(format, seed, inputs.Qcow2Targets, bigEndian: true),
        "ext4" => FuzzMutators.Binary(format, seed, inputs.Ext4Targets, bigEndian: false),
        "fl" => FuzzMutators.Flist(seed, inputs.FlistRowCounts),
        _ => FuzzMutators.Pax(seed, inputs.Dir),
    };

    /// <summary>Runs every command of one case in a fresh sandbox and applies the rules and oracles.</summary>
    private static (List<string> Problems, List<FuzzRun> Runs, int Compared) RunCase(FuzzCase c, FuzzInputs inputs)
    {
        var problems = new List<string>();
        var runs = new List<FuzzRun>();
        int compared = 0;
        string root = TestEnvironment.NewTempDir("rff-fuzz");
        try
        {
            // Nested (a/b/case) so that a write escaping the output through ../ lands where it is seen.
            string box = Path.Combine(root, "a", "b", "case"), inDir = Path.Combine(box, "in"), outDir = Path.Combine(box, "out"),
                tmp = Path.Combine(box, "tmp");
            foreach (var d in new[] { inDir, outDir, tmp }) Directory.CreateDirectory(d);
            string input = Path.Combine(inDir, c.Input);
            File.Copy(Path.Combine(inputs.Dir, c.Input), input);
            c.Apply(input);
            string inputHash = FuzzRunner.Hash(input);

            FuzzRun Run(string stdout, params string[] args)
            {
                var r = FuzzRunner.Run(box, tmp, Path.Combine(outDir, stdout), args);
                runs.Add(r);
                // cat of a path the (corrupted) image does not have is the documented usage error, exit 2.
                bool missingPath = args[0] == "cat" && r.ExitCode == 2
                                   && Regex.IsMatch(r.StdErr, @"^rootfsforge: \S+: (no such file in the image|is a \w+, not a file)\s*$");
                // A route mutated to a server that is not there: content cannot be fetched, a failure of the environment
                // (exit 1, "every store failed"), not of the file; fl verify still reports it as a problem (exit 3).
                bool unreachableStore = c.Format == "fl" && c.Description.Contains("route", StringComparison.OrdinalIgnoreCase)
                                        && r.ExitCode == 1 && r.StdErr.Contains("every store failed", StringComparison.Ordinal);
                if (!missingPath && !unreachableStore && FuzzRunner.Violation(r) is { } v) problems.Add($"`{r.Command}`: {v}");
                return r;
            }

            switch (c.Format)
            {
                case "qcow2":
                case "ext4":
                {
                    string tar = Path.Combine(outDir, "x.tar");
                    var extract = Run("extract.out", "extract", input, "-o", tar, "-q");
                    if (extract.ExitCode == 3 && File.Exists(tar)) problems.Add("extract: exit 3 but the output exists");
                    if (extract.ExitCode == 0 && !File.Exists(tar)) problems.Add("extract: exit 0 but no output");
                    string path = FuzzInputs.CatPaths[c.Seed % FuzzInputs.CatPaths.Length];
                    var cat = Run("cat.out", "cat", input, path);
                    compared += c.Format == "qcow2"
                        ? QemuOracle(input, outDir, tmp, box, extract, problems)
                        : KernelOracle(input, outDir, extract, cat, path, problems);
                    break;
                }
                case "fl":
                {
                    Run("verify.out", "fl", "verify", input);
                    string tree = Path.Combine(outDir, "tree");
                    var extract = Run("extract.out", "fl", "extract", input, "-o", tree);
                    if (extract.ExitCode != 0 && Directory.Exists(tree)) problems.Add($"fl extract: exit {extract.ExitCode} but the output directory exists (half-written output)");
                    string[][] more = [["fl", "ls", "-l", input], ["fl", "info", input], ["fl", "cat", input, "file-big"]];
                    Run("more.out", more[c.Seed % more.Length]);
                    break;
                }
                default:
                {
                    string fl = Path.Combine(outDir, "x.fl");
                    var pack = Run("pack.out", "fl", "pack", input, "-o", fl, "--store", $"dir://{Path.Combine(outDir, "store")}", "-q");
                    if (pack.ExitCode != 0 && File.Exists(fl)) problems.Add($"fl pack: exit {pack.ExitCode} but the output exists (half-written output)");
                    break;
                }
            }

            // Nothing outside out/: the sandbox holds only a/b/case/{in,out,tmp}, in/ only the input, unchanged; tmp/ is empty.
            foreach (var (dir, expected) in new[]
                     {
                         (root, new[] { "a" }), (Path.Combine(root, "a"), ["b"]), (Path.Combine(root, "a", "b"), ["case"]),
                         (box, ["in", "out", "tmp"]), (inDir, [c.Input]), (tmp, []),
                     })
            {
                var extra = ReliabilityCli.Entries(dir).Except(expected).ToList();
                if (extra.Count > 0)
                    problems.Add($"wrote outside the output: {string.Join(", ", extra.Select(e => Path.GetRelativePath(root, Path.Combine(dir, e))))}");
            }
            if (File.Exists(input) && FuzzRunner.Hash(input) != inputHash) problems.Add("the input was modified");
        }
        finally
        {
            GuardedCli.RemoveTree(root);
        }
        return (problems, runs, compared);
    }

    /// <summary>
    /// A qcow2 that extracted and that qemu-img check finds clean must give the same tar as qemu's own reading of the disk
    /// (qemu-img convert -O raw, extracted by the same CLI): the qcow2 layer must read exactly the bytes qemu reads.
    /// </summary>
    private static int QemuOracle(string input, string outDir, string tmp, string box, FuzzRun extract, List<string> problems)
    {
        if (extract.ExitCode != 0) return 0;
        // qemu-img check: 0 clean, 3 only leaked clusters (harmless to data); 2 corruption, 1 check failed.
        var (check, _, _) = TestEnvironment.Run("qemu-img", ["check", input], timeout: TimeSpan.FromMinutes(1));
        if (check is not (0 or 3)) return 0;
        string raw = Path.Combine(outDir, "qemu.raw");
        var (convert, _, _) = TestEnvironment.Run("qemu-img", ["convert", "-O", "raw", input, raw], timeout: TimeSpan.FromMinutes(1));
        if (convert != 0) return 0;
        string reference = Path.Combine(outDir, "qemu.tar");
        var r = FuzzRunner.Run(box, tmp, Path.Combine(outDir, "qemu.out"), "extract", raw, "-o", reference, "-q");
        if (r.ExitCode != 0)
        {
            problems.Add($"oracle: the qcow2 extracted (exit 0) but the same extraction of qemu's raw view of it ends with exit {r.ExitCode}: {FuzzRunner.Tail(r.StdErr, 400)}");
            return 1;
        }
        byte[] a = File.ReadAllBytes(Path.Combine(outDir, "x.tar")), b = File.ReadAllBytes(reference);
        int same = a.AsSpan().CommonPrefixLength(b);
        if (same < a.Length || a.Length != b.Length)
            problems.Add($"oracle: qemu-img check is clean, but the tar differs from the one of qemu's raw view at byte {same} " +
                         $"({a.Length} vs {b.Length} bytes): the qcow2 was read differently from qemu");
        return 1;
    }

    /// <summary>
    /// An ext4 that e2fsck -fn finds clean must extract and cat exactly like the kernel's read-only loop mount shows it.
    /// </summary>
    private static int KernelOracle(string image, string outDir, FuzzRun extract, FuzzRun cat, string catPath, List<string> problems)
    {
        if (cat.OutputCapped)
        {
            // cat of a file whose (mutated) size is huge streams that many bytes: fine if debugfs agrees on the size.
            var m = Regex.Match(TestEnvironment.Run("debugfs", ["-R", $"stat {catPath}", image]).StdOut, @"Size: (\d+)");
            if (!m.Success || long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) <= FuzzRunner.StdOutCap)
                problems.Add($"cat {catPath} wrote more than {FuzzRunner.StdOutCap >> 20} MiB, but debugfs gives its size as {(m.Success ? m.Groups[1].Value : "unknown")}");
        }
        if (extract.ExitCode != 0 && cat.ExitCode != 0) return 0;
        var (fsck, _, _) = TestEnvironment.Run("e2fsck", ["-fn", image], timeout: TimeSpan.FromMinutes(1));
        if (fsck != 0) return 0;
        using var mount = LoopMount.TryReadOnly(image, 0, out _);
        if (mount is null) return 0;
        int compared = 0;
        if (extract.ExitCode == 0)
        {
            var (code, stdout, stderr) = TestEnvironment.Run("python3", [Comparer.Script, "--tar", Path.Combine(outDir, "x.tar"), "--root", mount.Path],
                timeout: TimeSpan.FromMinutes(2));
            if (code != 0) problems.Add($"oracle: e2fsck -fn is clean, but the tar differs from the kernel's mount: {FuzzRunner.Tail(stdout + stderr, 1500)}");
            compared++;
        }
        if (cat.ExitCode == 0 && !cat.OutputCapped)
        {
            byte[] expected = File.ReadAllBytes(mount.Path + catPath);
            byte[] actual = File.ReadAllBytes(Path.Combine(outDir, "cat.out"));
            if (!expected.AsSpan().SequenceEqual(actual))
                problems.Add($"oracle: e2fsck -fn is clean, but cat {catPath} gave {actual.Length} bytes differing from the kernel's {expected.Length}");
            compared++;
        }
        return compared;
    }

    /// <summary>The unmutated filesystem must pass the kernel comparison (else the oracle, not the reader, is wrong).</summary>
    private static void Control(FuzzInputs inputs)
    {
        string dir = TestEnvironment.NewTempDir("rff-fuzz-control");
        try
        {
            foreach (var file in FuzzInputs.Ext4Files)
            {
                string image = Path.Combine(inputs.Dir, file), tar = Path.Combine(dir, file + ".tar");
                var r = FuzzRunner.Run(dir, dir, Path.Combine(dir, "out"), "extract", image, "-o", tar, "-q");
                Assert.True(r.ExitCode == 0, $"control extract of {file}: {r.StdErr}");
                using var mount = LoopMount.ReadOnly(image, 0);
                Comparer.AssertEqual($"control: the unmutated {file} against its kernel mount", "--tar", tar, "--root", mount.Path);
            }
        }
        finally
        {
            GuardedCli.RemoveTree(dir);
        }
    }

    /// <summary>Keeps a failing case's mutated input for the report; returns where.</summary>
    private static string Keep(FuzzCase c)
    {
        string dir = Path.Combine(TestEnvironment.FixtureDir, "reliability-fuzz-failures");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"{c.Format}-{c.Seed}-{c.Input}");
        string source = Path.Combine(FuzzInputs.Get().Dir, c.Input);
        File.Copy(source, path, overwrite: true);
        c.Apply(path);
        return path;
    }
}
