namespace RootfsForge;

/// <summary>
/// Thrown when an input (disk image, partition table, filesystem, archive, <c>.fl</c>) is corrupt or uses a feature
/// RootfsForge refuses. The message names what was wrong; <see cref="Structure"/> and <see cref="Offset"/> say where.
/// </summary>
public class ImageFormatException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is wrong, in one sentence.</param>
    /// <param name="structure">The on-disk structure being read, e.g. <c>qcow2 L2 table</c> or <c>ext4 inode 12</c>.</param>
    /// <param name="offset">The byte offset of that structure in its container, when known.</param>
    /// <param name="inner">The underlying exception, if any.</param>
    public ImageFormatException(string message, string? structure = null, long? offset = null, Exception? inner = null)
        : base(Compose(message, structure, offset), inner)
    {
        Reason = message;
        Structure = structure;
        Offset = offset;
    }

    /// <summary>What is wrong, without location.</summary>
    public string Reason { get; }

    /// <summary>The structure being read when the problem was found.</summary>
    public string? Structure { get; }

    /// <summary>The byte offset of that structure, when known.</summary>
    public long? Offset { get; }

    /// <summary>The image (file) this happened in, when known; set by the layer that opened the file.</summary>
    public string? ImagePath { get; init; }

    private static string Compose(string message, string? structure, long? offset)
    {
        if (structure is null) return message;
        return offset is long o ? $"{structure} at offset {o} (0x{o:x}): {message}" : $"{structure}: {message}";
    }
}

/// <summary>
/// Thrown when an input is well-formed but uses a feature RootfsForge deliberately does not read
/// (qcow2 encryption, ext4 compression, an XFS root, ...).
/// </summary>
public sealed class UnsupportedImageException : ImageFormatException
{
    /// <summary>Creates the exception.</summary>
    public UnsupportedImageException(string message, string? structure = null, long? offset = null)
        : base(message, structure, offset)
    {
    }
}
