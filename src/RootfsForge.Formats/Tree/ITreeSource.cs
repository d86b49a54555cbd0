namespace RootfsForge.Tree;

/// <summary>
/// Something that yields a whole filesystem tree: an ext4 filesystem, a tar archive, a directory, a <c>.fl</c>, an OCI image.
/// </summary>
public interface ITreeSource
{
    /// <summary>
    /// Every entry, the root ("") first, depth-first with each directory's children sorted by their name bytes
    /// (ordinal), so a parent always precedes its children and two walks of the same tree give the same order. Paths
    /// follow <see cref="TreePath"/>'s rules. Hard links appear as <see cref="EntryType.HardLink"/> entries pointing at
    /// the first path emitted for the inode, with that inode's metadata (xattrs included).
    /// </summary>
    /// <param name="cancellationToken">Stops the walk.</param>
    IAsyncEnumerable<TreeEntry> WalkAsync(CancellationToken cancellationToken = default);

    /// <summary>Problems found and skipped so far (encrypted inodes, unreadable entries, ...), for the summary.</summary>
    IReadOnlyList<string> Warnings { get; }
}
