namespace RootfsForge.Tar;

/// <summary>Options of <see cref="TarArchiveSource"/>.</summary>
public sealed record TarArchiveSourceOptions
{
    /// <summary>
    /// Where a compressed or non-seekable archive is decompressed to (an unlinked temporary file, so content can be
    /// read at random). <c>null</c> for the system temporary folder.
    /// </summary>
    public string? TemporaryDirectory { get; init; }

    /// <summary>Refuse archives with more members than this (metadata is held in memory, content is not).</summary>
    public long MaxEntries { get; init; } = TarIndex.DefaultMaxEntries;
}
