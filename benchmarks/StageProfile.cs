using System.Diagnostics;
using RootfsForge.Sinks.Tar;
using RootfsForge.Disks;
using RootfsForge.Ext4;
using RootfsForge.Tree;

namespace RootfsForge.Benchmarks;

/// <summary>
/// <c>benchmarks -- stages IMAGE [--repeat N]</c>: where does extraction time go on a real image? The root partition is
/// the one <c>partx</c> names <c>cloudimg-rootfs</c> (else the largest; a bare filesystem when there is no table), so
/// only the disk, ext4 and tar layers are involved. Runs the in-process
/// extraction stage by stage, each on a freshly opened image, and prints wall time, CPU time ((user+sys)/wall = cores
/// used) and garbage collections per stage:
/// <list type="bullet">
/// <item>inflate: every allocated byte of the root partition read through the disk layer in 1 MiB reads with Prefetch
/// (for a fresh mke2fs image this is close to "inflate only the clusters the files use": the decompression limit);</item>
/// <item>walk: the ext4 inode and directory walk, no file contents;</item>
/// <item>walk+read: the walk plus every regular file's content read into a buffer;</item>
/// <item>tar: the walk plus <see cref="TarSink"/> into <see cref="Stream.Null"/> (the CLI's work minus the stdout pipe).</item>
/// </list>
/// </summary>
internal static class StageProfile
{
    public static int Run(string[] args)
    {
        if (args.Length < 1) { Console.Error.WriteLine("usage: stages IMAGE [--repeat N]"); return 2; }
        string path = args[0];
        int repeat = args.Length >= 3 && args[1] == "--repeat" ? int.Parse(args[2]) : 3;
        var (start, length) = RootPartition(path);
        var stages = new (string Name, Func<BlockSource, long> Body)[]
        {
            ("inflate", Inflate),
            ("walk", Walk),
            ("walk+read", WalkRead),
            ("tar", Tar),
        };
        Console.WriteLine($"# {path}, root filesystem at byte {start} (+{length}), {Environment.ProcessorCount} cores, " +
                          $"best of {repeat} (after one warm-up)");
        Console.WriteLine($"{"stage",-10} {"wall s",8} {"cpu s",8} {"cores",6} {"gen0/1/2",10} {"MB",10} {"MB/s",8}");
        foreach (var (name, body) in stages)
        {
            Measure(path, start, length, body); // warm-up: JIT, page cache
            var best = Enumerable.Range(0, repeat).Select(_ => Measure(path, start, length, body)).MinBy(r => r.Wall);
            Console.WriteLine($"{name,-10} {best.Wall,8:F2} {best.Cpu,8:F2} {best.Cpu / best.Wall,6:F2} {best.Gcs,10} " +
                              $"{best.Bytes / 1e6,10:F1} {best.Bytes / 1e6 / best.Wall,8:F0}");
        }
        Console.WriteLine($"peak working set: {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576} MiB");
        return 0;
    }

    private static (double Wall, double Cpu, string Gcs, long Bytes) Measure(string path, long start, long length,
        Func<BlockSource, long> body)
    {
        var process = Process.GetCurrentProcess();
        int g0 = GC.CollectionCount(0), g1 = GC.CollectionCount(1), g2 = GC.CollectionCount(2);
        var cpu0 = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        long bytes;
        using (var disk = DiskImage.Open(path))
        using (var root = length > 0 ? disk.Slice(start, length) : disk.Slice(0, disk.Length))
        {
            bytes = body(root);
        }
        sw.Stop();
        process.Refresh();
        double cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
        string gcs = $"{GC.CollectionCount(0) - g0}/{GC.CollectionCount(1) - g1}/{GC.CollectionCount(2) - g2}";
        return (sw.Elapsed.TotalSeconds, cpu, gcs, bytes);
    }

    /// <summary>Start and length in bytes of the root partition per partx, or (0, 0) for a bare filesystem.</summary>
    private static (long Start, long Length) RootPartition(string path)
    {
        // partx reads the table of raw disks only; for qcow2 the layout is taken from the image's first MiBs.
        using var disk = DiskImage.Open(path);
        string head = System.IO.Path.GetTempFileName();
        try
        {
            var buffer = new byte[Math.Min(disk.Length, 1L << 20)];
            disk.ReadExactlyAt(0, buffer);
            File.WriteAllBytes(head, buffer);
            using (var f = File.OpenWrite(head)) f.SetLength(disk.Length); // GPT's backup header sits at the end
            var tail = new byte[Math.Min(disk.Length, 1L << 20)];
            disk.ReadExactlyAt(disk.Length - tail.Length, tail);
            using (var f = File.OpenWrite(head)) { f.Position = disk.Length - tail.Length; f.Write(tail); }
            var psi = new ProcessStartInfo("partx", ["-g", "-o", "START,SECTORS,NAME", head])             {
                RedirectStandardOutput = true,
                RedirectStandardError = true, // "failed to read partition table" for a bare filesystem
            };
            using var partx = Process.Start(psi)!;
            var errors = partx.StandardError.ReadToEndAsync();
            var rows = partx.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(c => c.Length >= 2).ToList();
            partx.WaitForExit();
            _ = errors.Result;
            if (rows.Count == 0) return (0, 0);
            var root = rows.FirstOrDefault(c => c.Length >= 3 && c[2] == "cloudimg-rootfs") ?? rows.MaxBy(c => long.Parse(c[1]))!;
            return (long.Parse(root[0]) * 512, long.Parse(root[1]) * 512);
        }
        finally
        {
            File.Delete(head);
        }
    }

    private static long Inflate(BlockSource device)
    {
        var buffer = new byte[1 << 20];
        long total = 0;
        foreach (var (offset, length) in device.GetAllocatedRanges(0, device.Length) ?? [(0, device.Length)])
        {
            for (long at = offset, end = offset + length; at < end;)
            {
                int want = (int)Math.Min(buffer.Length, end - at);
                if (at + want < end) device.Prefetch(at + want, Math.Min(4L * buffer.Length, end - at - want));
                device.ReadExactlyAt(at, buffer.AsSpan(0, want));
                at += want;
                total += want;
            }
        }
        return total;
    }

    private static long Walk(BlockSource device)
    {
        using var fs = Ext4FileSystem.Open(device);
        long entries = 0;
        foreach (var _ in fs.WalkAsync().ToBlockingEnumerable()) entries++;
        return 0;
    }

    private static long WalkRead(BlockSource device)
    {
        using var fs = Ext4FileSystem.Open(device);
        var buffer = new byte[256 * 1024];
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
                    int n = content.ReadAtAsync(at, buffer.AsMemory(0, (int)Math.Min(buffer.Length, segment.End - at))).GetAwaiter().GetResult();
                    if (n <= 0) throw new InvalidOperationException($"{entry.Path}: short read at {at}");
                    at += n;
                    total += n;
                }
            }
        }
        return total;
    }

    private static long Tar(BlockSource device)
    {
        using var fs = Ext4FileSystem.Open(device);
        var sink = new TarSink(Stream.Null, new TarSinkOptions(), leaveOpen: true);
        TreeCopy.RunAsync(fs, sink).GetAwaiter().GetResult(); // the profile measures one thread, synchronously
        return sink.Statistics.ContentBytes;
    }
}
