using System.Diagnostics;
using RootfsForge.NativeTests.Support;
using RootfsForge.Ext4;
using RootfsForge.Tree;
using Xunit;
using Xunit.Abstractions;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>
/// The cached Debian 12 image (tools/make-debian-image.sh): its root partition was made with mke2fs -d from the
/// debootstrap tree, which is the oracle. Also logs the walk + read throughput (never asserted).
/// </summary>
public class Ext4DebianImageTests(ITestOutputHelper output)
{
    private const string Cache = "/var/cache/rootfsforge";

    [SkippableFact]
    public void DebianRootPartitionMatchesDebootstrapTree()
    {
        string raw = Path.Combine(Cache, "debian12.raw");
        string tree = Path.Combine(Cache, "debian12-rootfs");
        Skip.IfNot(File.Exists(raw) && Directory.Exists(tree), "tools/make-debian-image.sh has not built the cached image");
        TestEnvironment.RequireTool("sgdisk");
        TestEnvironment.RequireTool("python3");
        var info = TestEnvironment.RunChecked("sgdisk", ["-i", "1", raw]);
        long first = long.Parse(info.Split('\n').First(l => l.StartsWith("First sector:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[2]);
        long last = long.Parse(info.Split('\n').First(l => l.StartsWith("Last sector:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[2]);
        using var disk = BlockSource.OpenFile(raw);
        using var part = disk.Slice(first * 512, (last - first + 1) * 512);

        var sw = Stopwatch.StartNew();
        long bytes = 0, files = 0;
        using (var fs = Ext4FileSystem.Open(part))
        {
            byte[] buf = new byte[1 << 20];
            foreach (var e in fs.Walk())
            {
                if (e.Type != EntryType.RegularFile) continue;
                files++;
                using var c = e.OpenContent!();
                foreach (var s in c.GetDataSegments())
                    for (long p = s.Offset; p < s.End; p += buf.Length)
                    {
                        int n = (int)Math.Min(buf.Length, s.End - p);
                        c.ReadExactlyAt(p, buf.AsSpan(0, n));
                        bytes += n;
                    }
            }
        }
        output.WriteLine($"walk + read: {files} files, {bytes / 1048576.0:F1} MiB in {sw.Elapsed.TotalSeconds:F2} s");

        using var fs2 = Ext4FileSystem.Open(part, new Ext4Options { VerifyChecksums = true });
        var manifest = Ext4Fixtures.Manifest(tree);
        Ext4TreeComparer.CompareWalk(fs2, manifest, new Ext4TreeComparer.Options());
    }
}
