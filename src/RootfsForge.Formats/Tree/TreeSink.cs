namespace RootfsForge.Tree;

/// <summary>
/// Consumes a tree stream (tar, directory, <c>.fl</c>, hub upload). Call <see cref="Add"/> for every entry in walk order,
/// then <see cref="Complete"/>. Disposing a sink that was not completed aborts it and removes any partial output.
/// </summary>
public abstract class TreeSink : IDisposable
{
    /// <summary>Counters of what was written, for the summary line.</summary>
    public SinkStatistics Statistics { get; } = new();

    /// <summary>Writes one entry. Parents have been added before their children.</summary>
    public abstract void Add(TreeEntry entry, CancellationToken cancellationToken = default);

    /// <summary>Finishes the output (trailers, renames the temporary file into place).</summary>
    public abstract void Complete(CancellationToken cancellationToken = default);

    /// <summary>Aborts an incomplete output.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases resources; aborts and removes partial output unless <see cref="Complete"/> succeeded.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }
}

/// <summary>What a sink wrote; updated as it goes (read it from another thread for progress).</summary>
public sealed class SinkStatistics
{
    private long _entries;
    private long _contentBytes;
    private long _skippedSockets;
    private long _droppedAttributes;

    /// <summary>Entries written.</summary>
    public long Entries => Interlocked.Read(ref _entries);

    /// <summary>File content bytes read from the source and written (holes excluded).</summary>
    public long ContentBytes => Interlocked.Read(ref _contentBytes);

    /// <summary>Sockets skipped because the output cannot hold them.</summary>
    public long SkippedSockets => Interlocked.Read(ref _skippedSockets);

    /// <summary>Extended attributes the output cannot hold and dropped.</summary>
    public long DroppedAttributes => Interlocked.Read(ref _droppedAttributes);

    /// <summary>Warnings for the summary (dropped capabilities, ...).</summary>
    public List<string> Warnings { get; } = [];

    /// <summary>Counts one entry.</summary>
    public void AddEntry() => Interlocked.Increment(ref _entries);

    /// <summary>Counts content bytes.</summary>
    public void AddContentBytes(long n) => Interlocked.Add(ref _contentBytes, n);

    /// <summary>Counts a skipped socket.</summary>
    public void AddSkippedSocket() => Interlocked.Increment(ref _skippedSockets);

    /// <summary>Counts dropped xattrs.</summary>
    public void AddDroppedAttributes(long n) => Interlocked.Add(ref _droppedAttributes, n);
}
