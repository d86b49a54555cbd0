using RootfsForge.Sinks.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Flist;

/// <summary>
/// A content read that fails inside the block workers (contents that allow concurrent reads) surfaces exactly as the same
/// failure does when the sink reads itself: same exception type and message, so the CLI's exit code stays that of bad
/// input (3) instead of a store failure, and no .fl is left.
/// </summary>
public class FlistContentReadFailureTests
{
    public static TheoryData<bool> Modes => new() { true, false };

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Content_ending_early_is_the_same_IOException_either_way(bool workersRead)
    {
        var e = await PackFailingAsync(new FailingContent(1_500_000, failAt: 600_000, workersRead, corrupt: false));
        Assert.IsType<IOException>(e);
        Assert.Equal("big.bin: content ended early at byte 524288 of 1500000", e.Message);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Corrupt_input_while_reading_stays_an_ImageFormatException(bool workersRead)
    {
        var e = await PackFailingAsync(new FailingContent(1_500_000, failAt: 600_000, workersRead, corrupt: true));
        var image = Assert.IsType<ImageFormatException>(e);
        Assert.Contains("unexpected end of the archive", image.Message);
    }

    private static async Task<Exception> PackFailingAsync(FailingContent content)
    {
        var dir = TestEnvironment.NewTempDir("rff-flread");
        try
        {
            string fl = Path.Combine(dir, "x.fl");
            var store = BlockStore.Open($"dir://{dir}/store");
            Directory.CreateDirectory(Path.Combine(dir, "store"));
            var sink = new FlistSink(fl, new FlistSinkOptions { Stores = [new BlockStoreRoute(0, 255, store)] });
            Exception? failure = null;
            try
            {
                await sink.AddAsync(new TreeEntry { Path = "big.bin", Type = EntryType.RegularFile, Permissions = 0x1A4, Size = content.Length, OpenContent = () => content });
                await sink.CompleteAsync();
            }
            catch (Exception e)
            {
                failure = e;
            }
            finally
            {
                await sink.DisposeAsync();
            }
            Assert.NotNull(failure);
            Assert.False(File.Exists(fl), "a failed pack left its .fl");
            Assert.True(content.Disposed, "the content was not disposed");
            return failure!;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Random-looking data up to <c>failAt</c>, then an early end (0 bytes) or a corrupt-archive error.</summary>
    private sealed class FailingContent(long length, long failAt, bool concurrent, bool corrupt) : FileContent
    {
        public bool Disposed { get; private set; }

        public override long Length => length;

        internal override bool SupportsConcurrentReads => concurrent;

        public override IReadOnlyList<DataSegment> GetDataSegments() => [new DataSegment(0, length)];

        public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
        {
            if (offset >= failAt)
            {
                if (corrupt) throw new ImageFormatException("unexpected end of the archive", "tar archive", offset);
                return new(0);
            }
            int n = (int)Math.Min(destination.Length, failAt - offset);
            for (int i = 0; i < n; i++) destination.Span[i] = (byte)((offset + i) * 2654435761 >> 13);
            return new(n);
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }
}
