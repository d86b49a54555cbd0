namespace RootfsForge.Ext4;

/// <summary>How <see cref="Ext4FileSystem.Open"/> reads a filesystem.</summary>
public sealed class Ext4Options
{
    /// <summary>
    /// Verify metadata_csum checksums (superblock, group descriptors, inodes, extent, directory and xattr blocks) and throw
    /// <see cref="ImageFormatException"/> on a mismatch. Off by default: checksums are ignored.
    /// </summary>
    public bool VerifyChecksums { get; init; }

    /// <summary>
    /// When the filesystem needs journal recovery, replay the journal in memory (never writing the image). When false, or
    /// when no replayer is available, the filesystem is read as it is, with a warning.
    /// </summary>
    public bool ReplayJournal { get; init; } = true;

    /// <summary>
    /// Called for each warning as it happens (warnings are also collected in <see cref="Ext4FileSystem.Warnings"/>); during
    /// <see cref="Ext4FileSystem.Walk"/> it is called from the walk's own thread.
    /// </summary>
    public Action<string>? OnWarning { get; init; }

    /// <summary>The deepest directory level entered; deeper directories are emitted without their contents, with a warning.</summary>
    public int MaxDepth { get; init; } = 4096;
}
