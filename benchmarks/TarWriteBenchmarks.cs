using BenchmarkDotNet.Attributes;
using RootfsForge.Sinks.Tar;
using RootfsForge.Disks;
using RootfsForge.Ext4;
using RootfsForge.Tree;

namespace RootfsForge.Benchmarks;

/// <summary>
/// Tar writing alone: the fixture filesystem's entries (same paths, modes, owners, times, xattrs, links, sizes) with
/// their contents held in memory, written by <see cref="TarSink"/> into <see cref="Stream.Null"/>. No image reading is
/// measured: this is the cost of headers, pax records and copying content into the output stream.
/// </summary>
[MemoryDiagnoser]
public class TarWriteBenchmarks
{
    private List<TreeEntry> _entries = [];

    [GlobalSetup]
    public void Setup()
    {
        using var disk = DiskImage.Open(Fixtures.Ext4);
        using var fs = Ext4FileSystem.Open(disk);
        foreach (var e in fs.WalkAsync().ToBlockingEnumerable())
        {
            Func<FileContent>? open = null;
            if (e.Type == EntryType.RegularFile && e.OpenContent is not null)
            {
                using var content = e.OpenContent();
                var bytes = new byte[content.Length];
                content.ReadExactlyAtAsync(0, bytes).AsTask().GetAwaiter().GetResult();
                open = () => FileContent.FromBytes(bytes);
            }
            _entries.Add(e with { OpenContent = open });
        }
        Console.WriteLine($"// {_entries.Count} entries, {_entries.Where(e => e.Type == EntryType.RegularFile).Sum(e => e.Size) / 1048576.0:F1} MiB of file data");
    }

    /// <summary>Writes the whole tree as an uncompressed tar; returns the entry count.</summary>
    [Benchmark]
    public async Task<long> WriteTar()
    {
        await using var sink = new TarSink(Stream.Null, new TarSinkOptions(), leaveOpen: true);
        foreach (var entry in _entries) await sink.AddAsync(entry);
        await sink.CompleteAsync();
        return sink.Statistics.Entries;
    }
}
