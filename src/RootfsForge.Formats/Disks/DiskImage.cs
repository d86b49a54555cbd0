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

    private protected DiskImage(string path) => Path = path;

    /// <summary>The image file as given (backing images: resolved against the overlay's folder).</summary>
    public string Path { get; }

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
    /// Opens a disk image: qcow2 when the file starts with the qcow2 magic <c>QFI\xfb</c>, otherwise raw.
    /// </summary>
    /// <exception cref="ImageFormatException">The image (or one of its backing files) is corrupt or refused.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static DiskImage Open(string path, DiskImageOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Open(path, null, options ?? DiskImageOptions.Default, new OpenChain());
    }

    /// <summary>Opens <paramref name="path"/> as <paramref name="format"/> (null: probe), as part of a backing chain.</summary>
    internal static DiskImage Open(string path, string? format, DiskImageOptions options, OpenChain chain)
    {
        string canonical = Canonicalize(path);
        chain.Enter(path, canonical, options.MaxBackingDepth);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            format ??= Probe(handle);
            DiskImage image = format switch
            {
                "qcow2" => Qcow2DiskImage.Open(path, handle, options, chain),
                "raw" => new RawDiskImage(path, handle),
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

    private static string Probe(SafeFileHandle handle)
    {
        Span<byte> magic = stackalloc byte[4];
        int n = RandomAccess.Read(handle, magic, 0);
        return n == 4 && BinaryPrimitives.ReadUInt32BigEndian(magic) == Qcow2FieldLocations.MagicValue ? "qcow2" : "raw";
    }

    private static string Canonicalize(string path)
    {
        string full = System.IO.Path.GetFullPath(path);
        try
        {
            return File.ResolveLinkTarget(full, returnFinalTarget: true)?.FullName ?? full;
        }
        catch (IOException)
        {
            return full;
        }
    }

    /// <summary>Records a warning.</summary>
    private protected void AddWarning(string warning) => _warnings.Add(warning);

    /// <summary>An <see cref="ImageFormatException"/> naming this image.</summary>
    private protected ImageFormatException Error(string message, string structure, long? offset) =>
        new(message, structure, offset) { ImagePath = Path };

    /// <inheritdoc />
    public override string Describe() => $"{Format} image {System.IO.Path.GetFileName(Path)}";

    /// <summary>The images opened so far along one backing chain: bounds its depth and detects loops.</summary>
    internal sealed class OpenChain
    {
        private readonly HashSet<string> _seen = new(StringComparer.Ordinal);

        public int Depth { get; private set; } = -1;

        public void Enter(string path, string canonical, int maxDepth)
        {
            if (!_seen.Add(canonical))
                throw new ImageFormatException($"backing chain loops: '{path}' is already part of the chain", "qcow2 backing chain",
                    null) { ImagePath = path };
            Depth++;
            if (Depth > maxDepth)
                throw new ImageFormatException($"backing chain is deeper than {maxDepth} images", "qcow2 backing chain", null)
                    { ImagePath = path };
        }
    }
}
