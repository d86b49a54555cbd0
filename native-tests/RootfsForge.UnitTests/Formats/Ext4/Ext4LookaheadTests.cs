using RootfsForge.Ext4;
using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>The walk's look-ahead: bounded, cancellable at once, and its thread ends when the consumer lets go.</summary>
public class Ext4LookaheadTests
{
    private static TreeEntry Entry(int i) => new() { Path = $"f{i}", Type = EntryType.Fifo };

    /// <summary>An endless walk that records how far it got and whether it was disposed (on the walk thread).</summary>
    private sealed class EndlessWalk
    {
        public int Produced;
        public volatile bool Disposed;
        public int? ThreadId;

        public IEnumerable<(TreeEntry, ContentOpener?)> Run()
        {
            ThreadId = Environment.CurrentManagedThreadId;
            try
            {
                for (int i = 0; ; i++)
                {
                    Interlocked.Increment(ref Produced);
                    yield return (Entry(i), null);
                }
            }
            finally
            {
                Disposed = true;
            }
        }
    }

    [Fact]
    public async Task TheWalkStaysAWindowAheadAndStopsWhenDisposed()
    {
        var walk = new EndlessWalk();
        var ahead = new WalkLookahead(walk.Run(), () => false);
        for (int i = 0; i < 10; i++) Assert.Equal($"f{i}", (await ahead.TakeAsync(CancellationToken.None))!.Path);
        // The walk fills its window and waits: 10 taken, at most WindowEntries queued, one more in hand.
        for (int spin = 0; spin < 200 && Volatile.Read(ref walk.Produced) < 10 + WalkLookahead.WindowEntries; spin++) await Task.Delay(10);
        await Task.Delay(100);
        Assert.InRange(Volatile.Read(ref walk.Produced), 10 + WalkLookahead.WindowEntries, 11 + WalkLookahead.WindowEntries);
        Assert.NotEqual(Environment.CurrentManagedThreadId, walk.ThreadId);
        await ahead.DisposeAsync();
        Assert.True(walk.Disposed, "disposing must stop the walk and wait for its thread");
    }

    [Fact]
    public async Task CancellingStopsTheConsumerAtOnce()
    {
        using var release = new ManualResetEventSlim();
        IEnumerable<(TreeEntry, ContentOpener?)> Slow()
        {
            yield return (Entry(0), null);
            release.Wait(); // a walk stuck in a long directory read
            yield return (Entry(1), null);
        }

        var ahead = new WalkLookahead(Slow(), () => false);
        using var cts = new CancellationTokenSource();
        Assert.Equal("f0", (await ahead.TakeAsync(cts.Token))!.Path);
        var waiting = ahead.TakeAsync(cts.Token).AsTask();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        cts.Cancel();
        var done = await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.Same(waiting, done);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        // Queued entries do not delay a cancelled consumer either.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ahead.TakeAsync(cts.Token).AsTask());
        release.Set();
        await ahead.DisposeAsync();
    }

    [Fact]
    public async Task AWalkErrorSurfacesAfterTheEntriesBeforeIt()
    {
        IEnumerable<(TreeEntry, ContentOpener?)> Failing()
        {
            yield return (Entry(0), null);
            yield return (Entry(1), null);
            throw new ImageFormatException("broken", "ext4 inode 12", 4096);
        }

        var ahead = new WalkLookahead(Failing(), () => false);
        await using (ahead.ConfigureAwait(false))
        {
            Assert.Equal("f0", (await ahead.TakeAsync(CancellationToken.None))!.Path);
            Assert.Equal("f1", (await ahead.TakeAsync(CancellationToken.None))!.Path);
            var e = await Assert.ThrowsAsync<ImageFormatException>(() => ahead.TakeAsync(CancellationToken.None).AsTask());
            Assert.Equal("ext4 inode 12", e.Structure);
        }
    }
}
