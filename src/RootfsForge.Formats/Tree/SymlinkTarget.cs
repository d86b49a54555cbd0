namespace RootfsForge.Tree;

/// <summary>How the sinks treat a symlink target read raw from an image.</summary>
internal static class SymlinkTarget
{
    /// <summary>
    /// The target as the kernel reads it: a C string, so it ends at the first NUL. ext4 stores <c>i_size</c> bytes and
    /// corrupt images have NULs in them (e2fsprogs' f_badsymlinks*); on a mount, readlink(2) of such a block-stored
    /// target returns the part before the first NUL (Linux 6.18; fast symlinks with a bad size are refused as corrupt),
    /// and symlink(2) could not take more anyway.
    /// </summary>
    public static string AsKernelReadsIt(string? target, out bool truncated)
    {
        target ??= "";
        int nul = target.IndexOf('\0');
        truncated = nul >= 0;
        return truncated ? target[..nul] : target;
    }

    /// <summary>The warning every sink gives for a target <see cref="AsKernelReadsIt"/> cut short.</summary>
    public static string TruncatedWarning(string path) => $"'{path}': symlink target cut at its first NUL, as the kernel reads it";
}
