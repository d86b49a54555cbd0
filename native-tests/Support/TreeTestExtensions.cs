using RootfsForge.Tree;

namespace RootfsForge.NativeTests;

/// <summary>
/// Synchronous shorthands for tests: walk a source, feed a sink, read content. Tests may block; the library does not.
/// </summary>
internal static class TreeTestExtensions
{
    public static IEnumerable<TreeEntry> Walk(this ITreeSource source, CancellationToken cancellationToken = default) =>
        source.WalkAsync(cancellationToken).ToBlockingEnumerable(cancellationToken);

    public static void Add(this TreeSink sink, TreeEntry entry, CancellationToken cancellationToken = default) =>
        sink.AddAsync(entry, cancellationToken).AsTask().GetAwaiter().GetResult();

    public static void Complete(this TreeSink sink, CancellationToken cancellationToken = default) =>
        sink.CompleteAsync(cancellationToken).AsTask().GetAwaiter().GetResult();

    public static void Dispose(this TreeSink sink) => sink.DisposeAsync().AsTask().GetAwaiter().GetResult();

    public static int ReadAt(this FileContent content, long offset, Span<byte> destination)
    {
        var buffer = new byte[destination.Length];
        int n = content.ReadAtAsync(offset, buffer).AsTask().GetAwaiter().GetResult();
        buffer.AsSpan(0, n).CopyTo(destination);
        return n;
    }

    public static void ReadExactlyAt(this FileContent content, long offset, Span<byte> destination)
    {
        var buffer = new byte[destination.Length];
        content.ReadExactlyAtAsync(offset, buffer).AsTask().GetAwaiter().GetResult();
        buffer.CopyTo(destination);
    }
}
