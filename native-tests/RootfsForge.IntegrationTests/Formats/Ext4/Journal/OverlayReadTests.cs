using RootfsForge.NativeTests.Support;
using RootfsForge.Disks;
using RootfsForge.Ext4.Journal;
using Xunit;

namespace RootfsForge.NativeTests.Journal;

/// <summary>
/// The overlay's BlockSource behaviour on a real replayed journal: unaligned reads crossing replayed and untouched
/// blocks (and the escaped first bytes), reads from many threads at once, and allocated ranges.
/// </summary>
public sealed class OverlayReadTests : IDisposable
{
    private readonly string _dir = TestEnvironment.NewTempDir("rff-journal-overlay");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (JournalImage Info, byte[] Expected, long[] Targets) Make()
    {
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("debugfs");
        const int bs = 1024;
        string image = Path.Combine(_dir, "overlay.img");
        TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-b", "1024", "-O", "metadata_csum,64bit", image, "8192"]);
        var data = new byte[bs * 4];
        new Random(3).NextBytes(data);
        for (int i = 0; i < 4; i++) System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(i * bs), 0xC03B3998);
        File.WriteAllBytes(Path.Combine(_dir, "data"), data);
        long[] targets = [6000, 6001, 6003, 6010];
        File.WriteAllText(Path.Combine(_dir, "cmd"), $"jo -c\njw -b {string.Join(',', targets)} {Path.Combine(_dir, "data")}\njc\n");
        TestEnvironment.RunChecked("debugfs", ["-w", "-f", Path.Combine(_dir, "cmd"), image]);

        // Expected device after replay, built independently: the image with the four blocks replaced by the data file.
        byte[] expected = File.ReadAllBytes(image);
        for (int i = 0; i < targets.Length; i++) data.AsSpan(i * bs, bs).CopyTo(expected.AsSpan((int)(targets[i] * bs)));
        return (JournalImage.Inspect(image), expected, targets);
    }

    [SkippableFact]
    public void Unaligned_and_parallel_reads_match_block_level_replay()
    {
        var (info, expected, targets) = Make();
        using var device = BlockSource.OpenFile(info.Path);
        var overlay = Assert.IsType<JournalOverlayBlockSource>(info.Replay(device, []));
        Assert.Equal(targets, overlay.ReplayedBlocks);

        Parallel.For(0, 4, worker =>
        {
            var random = new Random(worker);
            var buffer = new byte[5000];
            for (int i = 0; i < 2000; i++)
            {
                // Mostly around the replayed blocks, sometimes anywhere, sometimes past the end.
                long offset = random.Next(3) switch
                {
                    0 => targets[random.Next(targets.Length)] * 1024 + random.Next(-1500, 1500),
                    1 => random.NextInt64(0, overlay.Length),
                    _ => overlay.Length - random.Next(0, 3000),
                };
                offset = Math.Max(0, offset);
                int length = random.Next(0, buffer.Length);
                int n = overlay.ReadAt(offset, buffer.AsSpan(0, length));
                Assert.Equal((int)Math.Max(0, Math.Min(length, overlay.Length - offset)), n);
                Assert.True(expected.AsSpan((int)offset, n).SequenceEqual(buffer.AsSpan(0, n)),
                    $"read at {offset} (+{length}) differs");
            }
        });
    }

    [SkippableFact]
    public void Allocated_ranges_include_replayed_blocks()
    {
        var (info, _, targets) = Make();
        using var file = BlockSource.OpenFile(info.Path);
        using var device = new FirstBlocksAllocated(file, 2048);
        var overlay = Assert.IsType<JournalOverlayBlockSource>(info.Replay(device, []));
        var ranges = overlay.GetAllocatedRanges(0, overlay.Length);
        Assert.NotNull(ranges);
        Assert.Equal((0L, 2048L), ranges[0]);
        foreach (long t in targets) Assert.Contains(ranges, r => r.Offset <= t * 1024 && r.Offset + r.Length >= t * 1024 + 1024);
        for (int i = 1; i < ranges.Count; i++) Assert.True(ranges[i].Offset > ranges[i - 1].Offset + ranges[i - 1].Length);
    }

    /// <summary>A device that reports only its first bytes (and the journal) as allocated.</summary>
    private sealed class FirstBlocksAllocated(BlockSource inner, long allocated) : BlockSource
    {
        public override long Length => inner.Length;
        public override int ReadAt(long offset, Span<byte> destination) => inner.ReadAt(offset, destination);

        public override IReadOnlyList<(long Offset, long Length)>? GetAllocatedRanges(long offset, long length) =>
            offset < allocated ? [(offset, Math.Min(length, allocated - offset))] : [];
    }
}
