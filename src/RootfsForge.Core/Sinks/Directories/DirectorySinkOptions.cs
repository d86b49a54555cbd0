namespace RootfsForge.Sinks.Directories;

/// <summary>Options of <see cref="DirectorySink"/>.</summary>
public sealed record DirectorySinkOptions
{
    /// <summary>
    /// Write into a target directory that already has entries, merging with them. Existing directories are then reused;
    /// an existing non-directory at an entry's path is an error. Off by default: a non-empty target is refused.
    /// </summary>
    public bool AllowNonEmptyTarget { get; init; }

    /// <summary>
    /// Replace a target that exists (a non-empty directory or a file): the tree is built under a temporary sibling name
    /// and swapped in by <see cref="DirectorySink.CompleteAsync"/>; the old target is removed only then.
    /// </summary>
    public bool ReplaceExisting { get; init; }

    /// <summary>
    /// Restore owners, device nodes and privileged xattrs. <c>null</c> (the default) means "when running as root";
    /// without privileges these are skipped and counted.
    /// </summary>
    public bool? Privileged { get; init; }
}
