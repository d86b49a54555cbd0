using RootfsForge.NativeTests.Support;
using RootfsForge.Disks;
using RootfsForge.Partitions;
using Xunit;

namespace RootfsForge.NativeTests.Disks;

/// <summary>
/// The cached Debian 12 images from tools/make-debian-image.sh: the qcow2 files were converted from debian12.raw, so the
/// raw file is the oracle. Skips when the cache has not been built.
/// </summary>
public sealed class CachedDebianImageTests
{
    private const string Cache = "/var/cache/rootfsforge";

    [SkippableTheory]
    [InlineData("debian12-zstd.qcow2")]
    [InlineData("debian12-deflate.qcow2")]
    public void QcowMatchesRawAndFindsRoot(string name)
    {
        string raw = Path.Combine(Cache, "debian12.raw");
        string qcow = Path.Combine(Cache, name);
        Skip.IfNot(File.Exists(raw) && File.Exists(qcow), $"needs {raw} and {qcow} (tools/make-debian-image.sh)");

        using var rawDisk = DiskImage.Open(raw);
        using var disk = DiskImage.Open(qcow);
        Assert.Equal(rawDisk.Length, disk.Length);

        var table = PartitionTable.Read(disk);
        Assert.Equal(PartitionScheme.Gpt, table.Scheme);
        var root = RootPartitionSelector.Select(table);
        Assert.Equal(1, root.Number);
        Assert.Equal(FileSystemKind.Ext, root.FileSystem);
        Assert.Equal("cloudimg-rootfs", root.Name);
        Assert.Equal(PartitionTable.Read(rawDisk).Partitions.Select(p => p.ToString()), table.Partitions.Select(p => p.ToString()));

        // 400 seeded ranges, a quarter of them inside the root's first 64 MiB (metadata-dense) and 1 MiB long.
        var rng = new Random(42);
        var a = new byte[1 << 20];
        var b = new byte[1 << 20];
        for (int i = 0; i < 400; i++)
        {
            long offset = i % 4 == 0 ? root.Offset + rng.NextInt64(64L << 20) : rng.NextInt64(disk.Length);
            int n = (int)Math.Min(i % 4 == 0 ? a.Length : rng.Next(1, 70_000), disk.Length - offset);
            disk.ReadExactlyAt(offset, a.AsSpan(0, n));
            rawDisk.ReadExactlyAt(offset, b.AsSpan(0, n));
            Assert.True(a.AsSpan(0, n).SequenceEqual(b.AsSpan(0, n)), $"{name}: mismatch in [{offset}, +{n})");
        }
    }
}
