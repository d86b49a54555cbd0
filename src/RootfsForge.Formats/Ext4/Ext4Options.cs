namespace RootfsForge.Ext4;

/// <summary>How <see cref="Ext4FileSystem.Open"/> reads a filesystem.</summary>
public sealed record Ext4Options
{
    /// <summary>
    /// Verify metadata_csum checksums (superblock, group descriptors, inodes, extent, directory and xattr blocks) and throw
    /// <see cref="ImageFormatException"/> (<see cref="ImageErrorKind.ChecksumMismatch"/>) on a mismatch. Off by default:
    /// checksums are ignored.
    /// </summary>
    public bool VerifyChecksums { get; init; }

    /// <summary>
    /// When the filesystem needs journal recovery, replay the journal in memory (never writing the image). When false, or
    /// when the journal cannot be replayed, the filesystem is read as it is, with a warning.
    /// </summary>
    public bool ReplayJournal { get; init; } = true;

    /// <summary>The deepest directory level entered; deeper directories are emitted without their contents, with a warning.</summary>
    public int MaxDepth { get; init; } = Tree.TreeWalker<object>.DefaultMaxDepth;
}
