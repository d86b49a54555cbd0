using BenchmarkDotNet.Attributes;
using RootfsForge.Disks;
using RootfsForge.Ext4;

namespace RootfsForge.Benchmarks;

/// <summary>
/// ext4 inode and directory walk: <see cref="Ext4FileSystem.WalkAsync"/> over the whole fixture filesystem (~4,200 entries)
/// without reading file contents; inodes, directory blocks (linear and htree), extent trees of directories, symlink
/// targets and xattrs are decoded. Opened afresh per operation. On the raw ext4 it measures the metadata code alone;
/// on the qcow2 images it adds decompressing the metadata clusters.
/// </summary>
[MemoryDiagnoser]
public class Ext4WalkBenchmarks
{
    /// <summary>The image holding the filesystem.</summary>
    [Params("raw", "zstd")]
    public string Image { get; set; } = "raw";

    private string _path = "";

    [GlobalSetup]
    public void Setup() => _path = Fixtures.Image(Image);

    /// <summary>Walks every entry; returns a checksum of what it saw so nothing is optimised away.</summary>
    [Benchmark]
    public long WalkMetadata()
    {
        using var disk = DiskImage.Open(_path);
        using var fs = Ext4FileSystem.Open(disk);
        long sum = 0;
        foreach (var entry in fs.WalkAsync().ToBlockingEnumerable())
        {
            sum += entry.Path.Length + entry.Size + entry.ExtendedAttributes.Count + (entry.LinkTarget?.Length ?? 0);
        }
        return sum;
    }
}
