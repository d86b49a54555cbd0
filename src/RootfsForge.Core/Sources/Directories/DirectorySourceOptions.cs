namespace RootfsForge.Sources.Directories;

/// <summary>Options of <see cref="DirectorySource"/>.</summary>
public sealed record DirectorySourceOptions
{
    /// <summary>
    /// Descend into directories on other filesystems (mount points). Off by default, like <c>find -xdev</c>: a mount
    /// point is emitted as an empty directory and reported in <see cref="DirectorySource.Warnings"/>.
    /// </summary>
    public bool CrossMountPoints { get; init; }

    /// <summary>Read extended attributes (default on).</summary>
    public bool ReadExtendedAttributes { get; init; } = true;
}
