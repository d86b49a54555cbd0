namespace RootfsForge.Disks;

/// <summary>Options for <see cref="DiskImage.Open(string, DiskImageOptions?)"/>.</summary>
public sealed class DiskImageOptions
{
    /// <summary>The longest backing chain followed (the top image counts as depth 0). Default 16.</summary>
    public int MaxBackingDepth { get; init; } = 16;

    /// <summary>Upper bound, in bytes, of the cache of decompressed qcow2 clusters (per image). Default 64 MiB.</summary>
    public long CacheBytes { get; init; } = 64L << 20;

    /// <summary>
    /// How many clusters a qcow2 image decodes ahead of a sequential reader on the thread pool; 0 turns read-ahead off.
    /// Default 32.
    /// </summary>
    public int ReadAheadClusters { get; init; } = 32;

    /// <summary>
    /// The most compressed clusters decoded in the background at once. Default 2 × the processor count.
    /// </summary>
    public int MaxParallelDecompressions { get; init; } = 2 * Environment.ProcessorCount;

    /// <summary>
    /// Folders whose files a backing chain may also use. By default every backing file and external data file must lie
    /// inside the folder of the image that was opened (after resolving symbolic links), so that an image cannot make the
    /// reader copy a host file such as <c>/etc/shadow</c> into its output (cf. CVE-2024-32498; docs/disk-formats.md §1.7).
    /// </summary>
    public IReadOnlyList<string> AllowedBackingDirectories { get; init; } = [];

    internal static DiskImageOptions Default { get; } = new();
}
