namespace RootfsForge;

/// <summary>What is wrong with an input, for callers that act on it (and tests that assert it) without parsing messages.</summary>
public enum ImageErrorKind
{
    /// <summary>The data contradicts its format: a bad magic, an impossible or inconsistent value.</summary>
    Corrupt,

    /// <summary>The data ends before a structure it needs (a truncated file; a cluster, block or record past the end).</summary>
    Truncated,

    /// <summary>A checksum or digest does not match the data.</summary>
    ChecksumMismatch,

    /// <summary>Well-formed, but uses a feature RootfsForge deliberately does not read (see <see cref="UnsupportedImageException"/>).</summary>
    Unsupported,

    /// <summary>A size, count or depth passes a documented limit that keeps memory and time bounded.</summary>
    LimitExceeded,

    /// <summary>A chain or tree refers back to itself (a backing-file loop, a directory cycle).</summary>
    Loop,

    /// <summary>A name or path a tree cannot hold (not a valid <see cref="Tree.TreePath"/>, <c>..</c>, an unreachable entry).</summary>
    InvalidName,

    /// <summary>Something the input refers to is missing or refused (a backing file outside the allowed folder, a block, a layer).</summary>
    MissingReference,

    /// <summary>The input is not of a kind that can be read at all (not a regular file or block device, an unknown format).</summary>
    NotAnImage,
}

/// <summary>
/// Thrown when an input (disk image, partition table, filesystem, archive, <c>.fl</c>, OCI image) is corrupt or uses a
/// feature RootfsForge refuses. <see cref="Kind"/> says what is wrong, <see cref="Structure"/> and <see cref="Offset"/> where;
/// the message says both in one sentence. A caller's own mistake (a bad argument) raises <see cref="ArgumentException"/> instead.
/// </summary>
public class ImageFormatException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is wrong, in one sentence.</param>
    /// <param name="structure">The on-disk structure being read, e.g. <c>qcow2 L2 table</c> or <c>ext4 inode 12</c>.</param>
    /// <param name="offset">The byte offset of that structure in its container, when known.</param>
    /// <param name="inner">The underlying exception, if any.</param>
    /// <param name="kind">What kind of problem it is.</param>
    public ImageFormatException(string message, string? structure = null, long? offset = null, Exception? inner = null,
        ImageErrorKind kind = ImageErrorKind.Corrupt)
        : base(Compose(message, structure, offset), inner)
    {
        Reason = message;
        Structure = structure;
        Offset = offset;
        Kind = kind;
    }

    /// <summary>What kind of problem this is.</summary>
    public ImageErrorKind Kind { get; }

    /// <summary>What is wrong, without location.</summary>
    public string Reason { get; }

    /// <summary>The structure being read when the problem was found.</summary>
    public string? Structure { get; }

    /// <summary>The byte offset of that structure, when known.</summary>
    public long? Offset { get; }

    /// <summary>The image (file) this happened in, when known; set by the layer that opened the file.</summary>
    public string? ImagePath { get; init; }

    /// <summary>The same problem, attributed to the file <paramref name="path"/> (when no layer below named one).</summary>
    public ImageFormatException WithImagePath(string path) =>
        ImagePath is not null ? this : new ImageFormatException(Reason, Structure, Offset, this, Kind) { ImagePath = path };

    private static string Compose(string message, string? structure, long? offset)
    {
        if (structure is null) return message;
        return offset is long o ? $"{structure} at offset {o} (0x{o:x}): {message}" : $"{structure}: {message}";
    }
}

/// <summary>
/// Thrown when an input is well-formed but uses a feature RootfsForge deliberately does not read
/// (qcow2 encryption, ext4 compression, an XFS root, ...). Its <see cref="ImageFormatException.Kind"/> is
/// <see cref="ImageErrorKind.Unsupported"/>.
/// </summary>
public sealed class UnsupportedImageException : ImageFormatException
{
    /// <summary>Creates the exception.</summary>
    public UnsupportedImageException(string message, string? structure = null, long? offset = null)
        : base(message, structure, offset, kind: ImageErrorKind.Unsupported)
    {
    }
}
