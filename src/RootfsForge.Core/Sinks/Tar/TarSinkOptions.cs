using RootfsForge.Tree;

namespace RootfsForge.Sinks.Tar;

/// <summary>Compression applied to a tar stream.</summary>
public enum TarCompression
{
    /// <summary>Plain tar.</summary>
    None,

    /// <summary>gzip (RFC 1952), written as independently compressed ~1 MiB members on all cores.</summary>
    Gzip,

    /// <summary>Zstandard, with the library's worker threads.</summary>
    Zstd,
}

/// <summary>Options of <see cref="TarSink"/>.</summary>
public sealed record TarSinkOptions
{
    /// <summary>
    /// When set, every modification time later than this is written as this (<c>--mtime-clamp</c>,
    /// <c>SOURCE_DATE_EPOCH</c>), so rebuilding an unchanged tree gives an identical archive.
    /// </summary>
    public UnixTime? MtimeClamp { get; init; }

    /// <summary>The compression of the output stream.</summary>
    public TarCompression Compression { get; init; }

    /// <summary>Compression level (gzip 1–9, default 6; zstd 1–22, default 3); <c>null</c> for the default.</summary>
    public int? CompressionLevel { get; init; }

    /// <summary>Threads used for compression; <c>null</c> for <see cref="Environment.ProcessorCount"/>.</summary>
    public int? CompressionThreads { get; init; }
}
