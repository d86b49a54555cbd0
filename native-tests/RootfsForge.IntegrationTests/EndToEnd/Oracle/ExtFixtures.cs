using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Oracle;

/// <summary>One row of the fixture MANIFEST.tsv written by tools/fixtures/make-ext-fixtures.sh.</summary>
public sealed record FixtureRow(string Fixture, string Format, int Partition, long Offset, string FsImage,
    string Features, string Notes);

/// <summary>
/// Builds the ext/disk/qcow2 fixtures once per test run (tools/fixtures/make-ext-fixtures.sh, cached under
/// <see cref="TestEnvironment.FixtureDir"/>/ext) and exposes the manifest.
/// </summary>
public sealed class ExtFixtures
{
    /// <summary>Tools the fixture script cannot run without.</summary>
    public static readonly string[] RequiredTools = ["mke2fs", "qemu-img", "qemu-io", "sgdisk", "sfdisk", "python3", "debugfs"];

    public string Dir { get; } = Path.Combine(TestEnvironment.FixtureDir, "ext");
    public string? MissingTool { get; }
    public string? BuildError { get; }
    public IReadOnlyDictionary<string, FixtureRow> Rows { get; } = new Dictionary<string, FixtureRow>();
    public string Skipped { get; } = "";

    public ExtFixtures()
    {
        MissingTool = RequiredTools.FirstOrDefault(t => TestEnvironment.FindOnPath(t) is null);
        if (MissingTool is not null) return;
        var script = Path.Combine(TestEnvironment.RepoRoot, "tools", "fixtures", "make-ext-fixtures.sh");
        try
        {
            var (code, stdout, stderr) = TestEnvironment.Run("bash", [script, Dir], timeout: TimeSpan.FromMinutes(15));
            if (code != 0)
            {
                BuildError = $"make-ext-fixtures.sh exited {code}:\n{stderr}\n{stdout}";
                return;
            }
        }
        catch (TimeoutException e)
        {
            BuildError = e.Message;
            return;
        }
        Rows = File.ReadAllLines(Path.Combine(Dir, "MANIFEST.tsv")).Skip(1)
            .Select(l => l.Split('\t'))
            .Select(c => new FixtureRow(c[0], c[1], int.Parse(c[2]), long.Parse(c[3]), c[4], c[5], c[6]))
            .ToDictionary(r => r.Fixture);
        var skippedFile = Path.Combine(Dir, "SKIPPED.txt");
        if (File.Exists(skippedFile)) Skipped = File.ReadAllText(skippedFile);
    }

    /// <summary>Skips when a tool is missing; fails when the fixture script failed.</summary>
    public void Require()
    {
        Skip.If(MissingTool is not null, $"needs '{MissingTool}' on PATH to build fixtures (installed by .ci/run)");
        Assert.True(BuildError is null, BuildError);
    }

    /// <summary>The manifest row of <paramref name="fixture"/>; skips with the script's reason if it was not made.</summary>
    public FixtureRow Row(string fixture)
    {
        Require();
        if (Rows.TryGetValue(fixture, out var row)) return row;
        Skip.If(Skipped.Length > 0, $"fixture {fixture} was not made: {Skipped.Trim()}");
        Assert.Fail($"fixture {fixture} is missing from {Dir}/MANIFEST.tsv and SKIPPED.txt gives no reason");
        return null!;
    }

    public string PathOf(string relative) => Path.Combine(Dir, relative);
}

[CollectionDefinition(Name)]
public sealed class OracleCollection : ICollectionFixture<ExtFixtures>
{
    /// <summary>One collection: the oracle tests share the fixture build and run one after another (loop devices,
    /// 2 cores).</summary>
    public const string Name = "Oracle";
}
