namespace RootfsForge.Tree;

/// <summary>
/// Something that yields a whole filesystem tree: an ext4 filesystem, a tar archive, a directory, a <c>.fl</c>.
/// </summary>
public interface ITreeSource
{
    /// <summary>
    /// Every entry, the root ("") first, depth-first with each directory's children sorted by their name bytes
    /// (ordinal), so a parent always precedes its children and two walks of the same tree give the same order.
    /// Hard links appear as <see cref="EntryType.HardLink"/> entries pointing at the first path emitted for the inode.
    /// </summary>
    /// <param name="cancellationToken">Stops the walk.</param>
    IEnumerable<TreeEntry> Walk(CancellationToken cancellationToken = default);

    /// <summary>Problems found and skipped during the walk (encrypted inodes, unreadable entries, ...), for the summary.</summary>
    IReadOnlyList<string> Warnings { get; }
}
