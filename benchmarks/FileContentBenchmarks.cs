using BenchmarkDotNet.Attributes;
using RootfsForge.Disks;
using RootfsForge.Ext4;
using RootfsForge.Tree;

namespace RootfsForge.Benchmarks;

/// <summary>
/// File content streaming: walks the fixture filesystem and reads every regular file's data segments in 256 KiB reads
/// (announcing each segment with <see cref="FileContent.Prefetch"/>), the way a sink does. raw = extent mapping and
/// copying alone; deflate/zstd add cluster decompression of the clusters files use.
/// </summary>
[MemoryDiagnoser]
public class FileContentBenchmarks
{
    private readonly byte[] _buffer = new byte[256 * 1024];

    /// <summary>The image holding the filesystem.</summary>
    [Params("raw", "deflate", "zstd")]
    public string Image { get; set; } = "raw";

    private string _path = "";

    [GlobalSetup]
    public void Setup() => _path = Fixtures.Image(Image);

    /// <summary>Reads all file contents; returns the byte count.</summary>
    [Benchmark]
    public long ReadAllFiles()
    {
        using var disk = DiskImage.Open(_path);
        using var fs = Ext4FileSystem.Open(disk);
        long total = 0;
        foreach (var entry in fs.WalkAsync().ToBlockingEnumerable())
        {
            if (entry.Type != EntryType.RegularFile || entry.OpenContent is null) continue;
            using var content = entry.OpenContent();
            foreach (var segment in content.GetDataSegments())
            {
                content.Prefetch(segment.Offset, segment.Length);
                for (long at = segment.Offset; at < segment.End;)
                {
                    int n = content.ReadAtAsync(at, _buffer.AsMemory(0, (int)Math.Min(_buffer.Length, segment.End - at))).GetAwaiter().GetResult();
                    if (n <= 0) throw new InvalidOperationException($"{entry.Path}: short read at {at}");
                    at += n;
                    total += n;
                }
            }
        }
        return total;
    }
}
