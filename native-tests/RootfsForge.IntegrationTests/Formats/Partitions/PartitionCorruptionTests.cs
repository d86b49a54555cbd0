using RootfsForge.NativeTests.Support;
using RootfsForge.Disks;
using RootfsForge.Partitions;
using Xunit;

namespace RootfsForge.NativeTests.Disks;

/// <summary>Seeded bit flips in the MBR, GPT headers and entry arrays, and EBRs: Read either succeeds or throws
/// ImageFormatException, never anything else, never hangs.</summary>
public sealed class PartitionCorruptionTests
{
    [SkippableTheory]
    [InlineData("gpt", 1)]
    [InlineData("mbr", 2)]
    public void CorruptedTablesFailCleanly(string kind, int seed)
    {
        PartitionFixtures.RequireTools();
        string source = kind == "gpt"
            ? PartitionFixtures.UbuntuLike
            : PartitionTableTests.MbrDisk;
        byte[] pristine = File.ReadAllBytes(source);
        var parts = PartitionFixtures.Sfdisk(source);
        // Regions worth corrupting: sector 0, GPT header + entries (LBA 1..33), the backup header, the EBRs.
        var hot = new List<(long Start, int Length)> { (0, 512), (512, 512), (1024, 16384), (pristine.Length - 512, 512) };
        foreach (var p in parts.Values.Where(p => p.Number >= 5)) hot.Add(((p.Start - 2048) * 512, 512));

        string dir = TestEnvironment.NewTempDir();
        var rng = new Random(seed);
        int ok = 0, refused = 0;
        for (int c = 0; c < 150; c++)
        {
            byte[] bytes = (byte[])pristine.Clone();
            for (int m = 0, n = 1 + rng.Next(6); m < n; m++)
            {
                var (start, length) = hot[rng.Next(hot.Count)];
                long at = start + rng.Next(length);
                if (at >= 0 && at < bytes.Length) bytes[at] = rng.Next(3) == 0 ? (byte)rng.Next(256) : (byte)(bytes[at] ^ (1 << rng.Next(8)));
            }
            string path = Path.Combine(dir, "case.raw");
            File.WriteAllBytes(path, bytes);
            var run = Task.Run<Exception?>(() =>
            {
                try
                {
                    using var disk = DiskImage.Open(path);
                    var table = PartitionTable.Read(disk);
                    foreach (var p in table.Partitions) Assert.InRange(p.Offset + p.Length, p.Length, disk.Length);
                    try { RootPartitionSelector.Select(table); } catch (ImageFormatException) { }
                    return null;
                }
                catch (Exception e) { return e; }
            });
            Assert.True(run.Wait(TimeSpan.FromSeconds(20)), $"case {c} hung");
            if (run.Result is null) ok++;
            else if (run.Result is ImageFormatException) refused++;
            else Assert.Fail($"case {c} threw {run.Result}");
        }
        // Both outcomes must occur, or the flips are not reaching the structures.
        Assert.True(ok > 0, "no case was read");
        Assert.True(refused > 0 || kind == "mbr", "no case was refused");
        Directory.Delete(dir, true);
    }
}
