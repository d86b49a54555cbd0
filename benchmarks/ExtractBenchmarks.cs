using BenchmarkDotNet.Attributes;
using RootfsForge.Sinks.Tar;
using RootfsForge.Disks;
using RootfsForge.Ext4;
using RootfsForge.Tree;

namespace RootfsForge.Benchmarks;

/// <summary>
/// The whole in-process extraction, without process start-up or the stdout pipe: fixture image → ext4 walk → tar into
/// <see cref="Stream.Null"/>. Compare with the four hot-path benchmarks to see which stage dominates.
/// </summary>
[MemoryDiagnoser]
public class ExtractBenchmarks
{
    /// <summary>The image holding the filesystem.</summary>
    [Params("raw", "deflate", "zstd")]
    public string Image { get; set; } = "raw";

    private string _path = "";

    [GlobalSetup]
    public void Setup() => _path = Fixtures.Image(Image);

    /// <summary>Extracts to tar; returns the content bytes written.</summary>
    [Benchmark]
    public async Task<long> ExtractToTar()
    {
        using var disk = DiskImage.Open(_path);
        using var fs = Ext4FileSystem.Open(disk);
        await using var sink = new TarSink(Stream.Null, new TarSinkOptions(), leaveOpen: true);
        await TreeCopy.RunAsync(fs, sink);
        return sink.Statistics.ContentBytes;
    }
}
