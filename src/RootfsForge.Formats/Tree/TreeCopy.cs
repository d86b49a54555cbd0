namespace RootfsForge.Tree;

/// <summary>Streams every entry of a source into a sink and completes it.</summary>
public static class TreeCopy
{
    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="sink"/> and calls <see cref="TreeSink.Complete"/>. On an
    /// exception the sink is left incomplete; disposing it removes the partial output.
    /// </summary>
    public static void Run(ITreeSource source, TreeSink sink, CancellationToken cancellationToken = default)
    {
        foreach (var entry in source.Walk(cancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            sink.Add(entry, cancellationToken);
        }
        sink.Complete(cancellationToken);
    }
}
