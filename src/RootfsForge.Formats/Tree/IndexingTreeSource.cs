using System.Runtime.CompilerServices;

namespace RootfsForge.Tree;

/// <summary>
/// A source that indexes what it hands out: each entry of the inner source's walk goes into a <see cref="TreeIndex"/>
/// as it passes, so a second reader of the same entries (the container lint after the copy to a sink) needs no walk of
/// its own. The index is complete once a walk has run to its end.
/// </summary>
internal sealed class IndexingTreeSource(ITreeSource inner, TreeIndex index) : ITreeSource
{
    public IReadOnlyList<string> Warnings => inner.Warnings;

    public async IAsyncEnumerable<TreeEntry> WalkAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var e in inner.WalkAsync(cancellationToken).ConfigureAwait(false))
        {
            index.Add(e);
            yield return e;
        }
    }
}
