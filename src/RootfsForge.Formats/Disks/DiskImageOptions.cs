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

    internal static DiskImageOptions Default { get; } = new();
}
