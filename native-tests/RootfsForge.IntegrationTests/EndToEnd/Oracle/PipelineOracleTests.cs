using RootfsForge.NativeTests.Support;
using RootfsForge.Sinks;
using RootfsForge.Disks;
using RootfsForge.Ext4;
using Xunit;

namespace RootfsForge.NativeTests.Oracle;

/// <summary>
/// The same oracle as <see cref="FixtureOracleTests"/>, driven in-process through the library (DiskImage → partition
/// slice at the manifest's offset → Ext4FileSystem → SinkFactory tar), so the readers and the tar sink are checked
/// against the kernel independently of the CLI and the partition layer.
/// </summary>
[Collection(OracleCollection.Name)]
public sealed class PipelineOracleTests(ExtFixtures fixtures)
{
    /// <summary>The bare filesystems plus one disk per layer (GPT raw, MBR raw, compressed qcow2, backing chain): the CLI
    /// oracle covers every fixture; this one localizes a failure to the library and keeps the suite short.</summary>
    public static TheoryData<string> Fixtures => new(FixtureOracleTests.All.Where(f => f.StartsWith("fs/", StringComparison.Ordinal))
        .Concat(["disk/mbr.raw", "qcow2/zstd.qcow2", "qcow2/chain/top.qcow2"]));

    [SkippableTheory]
    [MemberData(nameof(Fixtures))]
    public async Task LibraryTarEqualsKernelView(string fixture)
    {
        TestEnvironment.RequireRoot("the oracle is a read-only loop mount");
        var row = fixtures.Row(fixture);
        var work = TestEnvironment.NewTempDir("rff-pipeline");
        try
        {
            var tar = Path.Combine(work, "x.tar");
            using (var image = DiskImage.Open(fixtures.PathOf(row.Fixture)))
            using (var partition = image.Slice(row.Offset, image.Length - row.Offset))
            using (var fs = Ext4FileSystem.Open(partition))
            await using (var sink = SinkFactory.Create(tar))
            {
                foreach (var entry in fs.Walk()) sink.Add(entry);
                sink.Complete();
            }
            using var mount = FixtureOracleTests.MountReference(fixtures, row, work);
            Comparer.AssertEqual($"{row.Fixture} ({row.Features}; {row.Notes}) in-process", "--tar", tar, "--root", mount.Path);
        }
        finally
        {
            GuardedCli.RemoveTree(work);
        }
    }
}
