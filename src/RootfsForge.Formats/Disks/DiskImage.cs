using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using RootfsForge.Disks.Qcow2;

namespace RootfsForge.Disks;

/// <summary>
/// A disk image file (raw or qcow2) seen as its virtual disk. Open one with <see cref="Open(string, DiskImageOptions?)"/>;
/// the format is probed from the file's first bytes.
/// </summary>
public abstract class DiskImage : BlockSource
{
    private readonly List<string> _warnings = [];

    private protected DiskImage(string path, string resolvedPath)
    {
        Path = path;
        ResolvedPath = resolvedPath;
    }

    /// <summary>The image file as given (backing images: the name resolved against the overlay's folder, as qemu does).</summary>
    public string Path { get; }

    /// <summary>The file actually read: <see cref="Path"/> made absolute with every symbolic link resolved.</summary>
    public string ResolvedPath { get; }

    /// <summary>The format: <c>raw</c> or <c>qcow2</c>.</summary>
    public abstract string Format { get; }

    /// <summary>The next image of the backing chain, or <c>null</c>.</summary>
    public virtual DiskImage? Backing => null;

    /// <summary>Problems that did not stop reading (a dirty or corrupt-flagged qcow2), including the backing chain's.</summary>
    public IReadOnlyList<string> Warnings
    {
        get
        {
            if (Backing is null) return _warnings;
            return [.. _warnings, .. Backing.Warnings];
        }
    }

    /// <summary>
    /// Opens a disk image: qcow2 when the file starts with the qcow2 magic <c>QFI\xfb</c>, otherwise raw. Backing files and
    /// external data files must lie inside the image's folder or one of
    /// <see cref="DiskImageOptions.AllowedBackingDirectories"/> (docs/disk-formats.md §1.7).
    /// </summary>
    /// <exception cref="ImageFormatException">The image (or one of its backing files) is corrupt or refused; also when the
    /// path is not a regular file or block device (kind <see cref="ImageErrorKind.NotAnImage"/>).</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ArgumentException">An allowed backing directory does not exist.</exception>
    public static DiskImage Open(string path, DiskImageOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= DiskImageOptions.Default;
        string resolved;
        try
        {
            resolved = ImageFile.RealPath(path);
        }
        catch (FileNotFoundException) when (File.Exists(path))
        {
            resolved = System.IO.Path.GetFullPath(path); // e.g. /dev/stdin on a pipe ("pipe:[…]"): opening it says what it is
        }
        var chain = BackingChain.For(path, options);
        return Open(path, resolved, null, "disk image", options, chain);
    }

    /// <summary>
    /// Opens the file <paramref name="resolvedPath"/> (reached as <paramref name="path"/>) as <paramref name="format"/>
    /// (null: probe), as part of a backing chain.
    /// </summary>
    internal static DiskImage Open(string path, string resolvedPath, string? format, string structure, DiskImageOptions options,
        BackingChain chain)
    {
        chain.Enter(path, resolvedPath, options.MaxBackingDepth);
        var handle = ImageFile.Open(resolvedPath, structure, out long length);
        try
        {
            format ??= Probe(handle, length);
            DiskImage image = format switch
            {
                "qcow2" => Qcow2DiskImage.Open(path, resolvedPath, handle, length, options, chain),
                "raw" => new RawDiskImage(path, resolvedPath, handle, length),
                _ => throw new UnsupportedImageException($"disk image format '{format}' is not supported (only raw and qcow2)",
                    "backing file format", null) { ImagePath = path },
            };
            return image;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static string Probe(SafeFileHandle handle, long length)
    {
        if (length < 4) return "raw";
        Span<byte> magic = stackalloc byte[4];
        int n = RandomAccess.Read(handle, magic, 0);
        return n == 4 && BinaryPrimitives.ReadUInt32BigEndian(magic) == Qcow2FieldLocations.MagicValue ? "qcow2" : "raw";
    }

    /// <summary>Records a warning.</summary>
    private protected void AddWarning(string warning) => _warnings.Add(warning);

    /// <summary>An <see cref="ImageFormatException"/> naming this image.</summary>
    private protected ImageFormatException Error(string message, string structure, long? offset,
        ImageErrorKind kind = ImageErrorKind.Corrupt) =>
        new(message, structure, offset, kind: kind) { ImagePath = Path };

    /// <inheritdoc />
    public override string Describe() => $"{Format} image {System.IO.Path.GetFileName(Path)}";
}
