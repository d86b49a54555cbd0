namespace RootfsForge.Tree;

/// <summary>How far a <see cref="TreeCopy"/> has come.</summary>
/// <param name="Entries">Entries written.</param>
/// <param name="ContentBytes">File content bytes written (holes excluded).</param>
/// <param name="Completed">True in the last report, after the sink completed.</param>
public readonly record struct TreeProgress(long Entries, long ContentBytes, bool Completed);

/// <summary>Streams every entry of a source into a sink and completes it.</summary>
public static class TreeCopy
{
    /// <summary>How often <see cref="RunAsync"/> reports progress.</summary>
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="sink"/> and completes the sink. On an exception or
    /// cancellation the sink is left incomplete; disposing it removes the partial output.
    /// </summary>
    /// <param name="source">The tree to read.</param>
    /// <param name="sink">The output to write.</param>
    /// <param name="progress">Receives a report about every <see cref="ProgressInterval"/> while content is written (also
    /// inside large files), and one with <see cref="TreeProgress.Completed"/> at the end.</param>
    /// <param name="cancellationToken">Stops the copy.</param>
    public static async Task RunAsync(ITreeSource source, TreeSink sink, IProgress<TreeProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(sink);
        using var reporter = progress is null ? null : new Timer(
            _ => progress.Report(new TreeProgress(sink.EntriesWritten, sink.ContentBytesWritten, false)),
            null, ProgressInterval, ProgressInterval);
        await foreach (var entry in source.WalkAsync(cancellationToken).ConfigureAwait(false))
        {
            cancellationToken.ThrowIfCancellationRequested();
            await sink.AddAsync(entry, cancellationToken).ConfigureAwait(false);
        }
        await sink.CompleteAsync(cancellationToken).ConfigureAwait(false);
        if (reporter is not null) await reporter.DisposeAsync().ConfigureAwait(false);
        progress?.Report(new TreeProgress(sink.EntriesWritten, sink.ContentBytesWritten, true));
    }
}
