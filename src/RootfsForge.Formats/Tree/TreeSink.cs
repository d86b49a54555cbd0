namespace RootfsForge.Tree;

/// <summary>
/// Consumes a tree stream (tar, directory, <c>.fl</c>, hub upload). Call <see cref="AddAsync"/> for every entry in walk
/// order, then <see cref="CompleteAsync"/>. Disposing a sink that was not completed aborts it and removes any partial
/// output. <see cref="TreeCopy"/> does all of this.
/// </summary>
public abstract class TreeSink : IAsyncDisposable
{
    /// <summary>Creates the sink with its own counters, or with <paramref name="counters"/> shared with a sink it wraps.</summary>
    protected TreeSink(SinkCounters? counters = null) => Counters = counters ?? new SinkCounters();

    /// <summary>The counters a sink updates as it writes (thread-safe); <see cref="Statistics"/> reads them.</summary>
    protected SinkCounters Counters { get; }

    /// <summary>What was written so far: a snapshot, safe to take from another thread (for progress).</summary>
    public SinkStatistics Statistics => Counters.Snapshot();

    /// <summary>Writes one entry. Parents have been added before their children.</summary>
    public abstract ValueTask AddAsync(TreeEntry entry, CancellationToken cancellationToken = default);

    /// <summary>Finishes the output (trailers; renames the temporary output into place).</summary>
    public abstract ValueTask CompleteAsync(CancellationToken cancellationToken = default);

    /// <summary>Aborts an incomplete output and releases resources.</summary>
    public async ValueTask DisposeAsync()
    {
        await DisposeAsyncCore().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases resources; aborts and removes partial output unless <see cref="CompleteAsync"/> succeeded.</summary>
    protected virtual ValueTask DisposeAsyncCore() => default;

    /// <summary>Content bytes counted so far, without a snapshot (for <see cref="TreeCopy"/>'s progress).</summary>
    internal long ContentBytesWritten => Counters.ContentBytes;

    /// <summary>Entries counted so far, without a snapshot.</summary>
    internal long EntriesWritten => Counters.Entries;
}

/// <summary>What a sink wrote, at one moment.</summary>
/// <param name="Entries">Entries written.</param>
/// <param name="ContentBytes">File content bytes read from the source and written (holes excluded).</param>
/// <param name="SkippedSockets">Sockets skipped because the output cannot hold them.</param>
/// <param name="DroppedAttributes">Extended attributes the output cannot hold and dropped.</param>
/// <param name="Warnings">What the sink skipped or changed, one line each (dropped capabilities, ...).</param>
public sealed record SinkStatistics(long Entries, long ContentBytes, long SkippedSockets, long DroppedAttributes,
    IReadOnlyList<string> Warnings);

/// <summary>The live, thread-safe counters behind <see cref="SinkStatistics"/>; sinks update them as they go.</summary>
public sealed class SinkCounters
{
    private readonly List<string> _warnings = [];
    private long _entries;
    private long _contentBytes;
    private long _skippedSockets;
    private long _droppedAttributes;

    /// <summary>Entries counted.</summary>
    public long Entries => Interlocked.Read(ref _entries);

    /// <summary>Content bytes counted.</summary>
    public long ContentBytes => Interlocked.Read(ref _contentBytes);

    /// <summary>Counts one entry written.</summary>
    public void CountEntry() => Interlocked.Increment(ref _entries);

    /// <summary>Counts content bytes written.</summary>
    public void CountContentBytes(long bytes) => Interlocked.Add(ref _contentBytes, bytes);

    /// <summary>Counts a socket skipped.</summary>
    public void CountSkippedSocket() => Interlocked.Increment(ref _skippedSockets);

    /// <summary>Counts extended attributes dropped.</summary>
    public void CountDroppedAttributes(long count) => Interlocked.Add(ref _droppedAttributes, count);

    /// <summary>Records a warning for the summary.</summary>
    public void Warn(string message)
    {
        lock (_warnings) _warnings.Add(message);
    }

    /// <summary>A consistent copy of the counters.</summary>
    public SinkStatistics Snapshot()
    {
        string[] warnings;
        lock (_warnings) warnings = [.. _warnings];
        return new SinkStatistics(Entries, ContentBytes, Interlocked.Read(ref _skippedSockets),
            Interlocked.Read(ref _droppedAttributes), warnings);
    }
}
