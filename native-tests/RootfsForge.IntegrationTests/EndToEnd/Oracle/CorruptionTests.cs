using System.Formats.Tar;
using System.Globalization;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Oracle;

/// <summary>
/// Seeded, bounded corruption of a small fixture (make-ext-fixtures.sh fuzz/: GPT disk with an 8 MiB ext4, its qcow2
/// copies, and fuzz/offsets.tsv locating each structure): bit flips, overwrites and truncations in qcow2 headers, L1/L2
/// tables, GPT, superblock, group descriptors, inodes, extent tree blocks, directory blocks and xattr blocks; plus
/// crafted loops. Rule: exit 0, or exit 3 with one clear message; under 10 s; no crash; nothing written outside the
/// output; the input unchanged.
/// </summary>
[Collection(OracleCollection.Name)]
public sealed class CorruptionTests(ExtFixtures fixtures)
{
    /// <summary>Total cases = Batches × CasesPerBatch (ROOTFSFORGE_FUZZ_CASES overrides the total).</summary>
    private const int Batches = 8;
    private const int Seed = 20260226;

    private static int CasesPerBatch =>
        int.TryParse(Environment.GetEnvironmentVariable("ROOTFSFORGE_FUZZ_CASES"), out var n) && n > 0
            ? Math.Max(1, n / Batches)
            : 25;

    public static TheoryData<int> BatchNumbers => new(Enumerable.Range(0, Batches));

    private sealed record Target(string Name, string File, long Offset, long Length);

    private sealed record Mutation(Target Target, string Kind, long Offset, int Value)
    {
        public override string ToString() =>
            $"{Kind} in {Target.Name} ({Target.File} @{Offset}, value {Value:x})";
    }

    [SkippableTheory]
    [MemberData(nameof(BatchNumbers))]
    public void RandomCorruptionExtractsOrFailsCleanly(int batch)
    {
        TestEnvironment.RequireRoot("as users run it; sandbox checks need permission to clean any output");
        fixtures.Require();
        var fuzz = fixtures.PathOf("fuzz");
        var targets = File.ReadAllLines(Path.Combine(fuzz, "offsets.tsv")).Select(l => l.Split('\t'))
            .Select(c => new Target(c[0], c[1], long.Parse(c[2], CultureInfo.InvariantCulture),
                long.Parse(c[3], CultureInfo.InvariantCulture)))
            .Where(t => t.Length > 0).ToArray();
        // Pick structure kinds evenly (not weighted by how many rows a kind has), then a row of that kind.
        var kinds = targets.GroupBy(t => t.Name.Split(':')[0]).Select(g => g.ToArray()).ToArray();
        var rng = new Random(Seed + batch);
        var cases = new List<Mutation>();
        for (int i = 0; i < CasesPerBatch; i++)
        {
            var kind = kinds[(batch * CasesPerBatch + i) % kinds.Length];
            var t = kind[rng.Next(kind.Length)];
            var off = t.Offset + rng.NextInt64(t.Length);
            var roll = rng.Next(100);
            cases.Add(roll switch
            {
                < 60 => new Mutation(t, "bitflip", off, 1 << rng.Next(8)),
                < 75 => new Mutation(t, "flip4", off, rng.Next(1, 16)),       // flip up to 4 bits in 4 bytes
                < 90 => new Mutation(t, "word", off & ~3L, rng.Next(3) switch { 0 => 0, 1 => -1, _ => rng.Next() }),
                _ => new Mutation(t, "truncate", off, 0),
            });
        }

        var work = TestEnvironment.NewTempDir("rff-fuzz");
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        try
        {
            Parallel.ForEach(cases.Select((m, i) => (m, i)), new ParallelOptions { MaxDegreeOfParallelism = 2 }, c =>
            {
                var copy = Path.Combine(work, $"case{c.i}-{c.m.Target.File}");
                Mutate(Path.Combine(fuzz, c.m.Target.File), copy, c.m);
                var problems = GuardedCli.ExtractChecked(copy, alsoDirectory: false);
                if (problems.Count > 0)
                    failures.Add($"case {batch}.{c.i} {c.m}: {string.Join("; ", problems)}");
                File.Delete(copy);
            });
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
        Assert.True(failures.IsEmpty, $"seed {Seed + batch}: {failures.Count} of {cases.Count} cases broke the rule:\n"
                                      + Comparer.Truncate(string.Join("\n", failures.OrderBy(f => f)), 12000));
    }

    private static void Mutate(string source, string copy, Mutation m)
    {
        // The fixture files are sparse and small (≤ 24 MiB apparent): a copy keeps holes via cp.
        TestEnvironment.RunChecked("cp", ["--sparse=always", source, copy]);
        using var f = new FileStream(copy, FileMode.Open, FileAccess.ReadWrite);
        switch (m.Kind)
        {
            case "truncate":
                f.SetLength(m.Offset);
                return;
            case "bitflip":
            {
                f.Position = m.Offset;
                int b = f.ReadByte();
                f.Position = m.Offset;
                f.WriteByte((byte)(b ^ m.Value));
                return;
            }
            case "flip4":
            {
                var buf = new byte[4];
                f.Position = m.Offset;
                int n = f.Read(buf);
                for (int bit = 0; bit < 4; bit++)
                    if ((m.Value & (1 << bit)) != 0) buf[bit] ^= (byte)(1 << (int)((m.Offset + bit) % 8));
                f.Position = m.Offset;
                f.Write(buf, 0, n);
                return;
            }
            default:
                f.Position = m.Offset;
                f.Write(BitConverter.GetBytes(m.Value));
                return;
        }
    }

    [SkippableTheory]
    [InlineData("loop-dir-cycle.img", "a directory entry /dir/sub/ancestor pointing back to /dir")]
    [InlineData("loop-dir-self.img", "a directory entry /dir/sub/self pointing to its own directory")]
    [InlineData("loop-extent-cycle.img", "an extent index block pointing to itself")]
    [InlineData("loop-symlink-dir.img", "a symlink 'evil' -> ../../.. and a directory also named 'evil' holding a file")]
    [InlineData("cycle-a.qcow2", "qcow2 backing chain a -> b -> a")]
    [InlineData("cycle-self.qcow2", "qcow2 whose backing file is itself")]
    public void CraftedLoopsTerminate(string image, string what)
    {
        TestEnvironment.RequireRoot("as users run it");
        fixtures.Require();
        var path = fixtures.PathOf(Path.Combine("fuzz", image));
        Assert.True(File.Exists(path), $"{path} missing ({what})");
        var work = TestEnvironment.NewTempDir("rff-loop");
        try
        {
            var tar = Path.Combine(work, "x.tar");
            var r = GuardedCli.Run("extract", path, "-o", tar, "--quiet");
            Assert.True(r.Violation() is null, $"{image} ({what}): {r.Violation()}");
            if (image.EndsWith(".qcow2", StringComparison.Ordinal))
                Assert.True(r.ExitCode == 3, $"{image} ({what}): a looping backing chain must be refused, got exit {r.ExitCode}");
            if (r.ExitCode == 0)
            {
                // Extracted: each directory at most once (no path runs through the cycle).
                var names = new List<string>();
                using (var reader = new TarReader(File.OpenRead(tar)))
                    while (reader.GetNextEntry() is { } e) names.Add(e.Name.TrimStart('.', '/'));
                Assert.DoesNotContain(names, n => n.Contains("ancestor/sub", StringComparison.Ordinal)
                                                  || n.Contains("self/", StringComparison.Ordinal));
                Assert.Contains(names, n => n.StartsWith("file-small", StringComparison.Ordinal));
            }
            var sandboxed = GuardedCli.ExtractChecked(path, alsoDirectory: true);
            Assert.True(sandboxed.Count == 0, $"{image} ({what}):\n" + string.Join("\n", sandboxed));
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
    }
}
