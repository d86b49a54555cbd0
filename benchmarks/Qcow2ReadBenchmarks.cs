using BenchmarkDotNet.Attributes;
using RootfsForge.Disks;

namespace RootfsForge.Benchmarks;

/// <summary>
/// qcow2 cluster read + decompress: reads every allocated range of the fixture disk (a 64 KiB-cluster qcow2 of a
/// ~140 MB ext4, ~85 MB of it in use) through <see cref="DiskImage"/>, in 1 MiB reads, optionally announcing each next
/// read with <see cref="BlockSource.Prefetch"/> so decompression can run on the other core. Each operation opens the
/// image afresh, so no decoded cluster survives from one operation to the next. The raw ext4 is the copying baseline.
/// </summary>
[MemoryDiagnoser]
public class Qcow2ReadBenchmarks
{
    private const int ReadSize = 1 << 20;
    private readonly byte[] _buffer = new byte[ReadSize];

    /// <summary>The image: raw baseline, deflate qcow2, zstd qcow2.</summary>
    [Params("raw", "deflate", "zstd")]
    public string Image { get; set; } = "deflate";

    /// <summary>Announce the next read with Prefetch.</summary>
    [Params(false, true)]
    public bool Prefetch { get; set; }

    private string _path = "";

    [GlobalSetup]
    public void Setup()
    {
        _path = Fixtures.Image(Image);
        using var disk = DiskImage.Open(_path);
        long allocated = (disk.GetAllocatedRanges(0, disk.Length) ?? [(0, disk.Length)]).Sum(r => r.Length);
        Console.WriteLine($"// {Image}: virtual {disk.Length / 1048576.0:F1} MiB, allocated {allocated / 1048576.0:F1} MiB");
    }

    /// <summary>Opens the image and reads all allocated bytes; returns the byte count.</summary>
    [Benchmark]
    public long ReadAllocated()
    {
        using var disk = DiskImage.Open(_path);
        var ranges = disk.GetAllocatedRanges(0, disk.Length) ?? [(0, disk.Length)];
        long total = 0;
        foreach (var (offset, length) in ranges)
        {
            for (long at = offset, end = offset + length; at < end;)
            {
                int want = (int)Math.Min(ReadSize, end - at);
                if (Prefetch && at + want < end) disk.Prefetch(at + want, Math.Min(4L * ReadSize, end - at - want));
                disk.ReadExactlyAt(at, _buffer.AsSpan(0, want));
                at += want;
                total += want;
            }
        }
        return total;
    }
}
