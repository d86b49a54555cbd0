using Microsoft.Win32.SafeHandles;

namespace RootfsForge.Disks;

/// <summary>A raw disk image: the file's bytes are the disk. Reads are positional (<see cref="RandomAccess"/>), so parallel
/// readers never contend on a shared file position.</summary>
internal sealed partial class RawDiskImage : DiskImage
{
    private readonly SafeFileHandle _handle;
    private readonly long _length;

    internal RawDiskImage(string path, string resolvedPath, SafeFileHandle handle, long length) : base(path, resolvedPath)
    {
        _handle = handle;
        _length = length;
    }

    /// <summary>Opens a raw image (a regular file or a block device) without probing.</summary>
    /// <exception cref="ImageFormatException">The path is not a regular file or block device.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    internal static RawDiskImage OpenRaw(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string resolved = ImageFile.RealPath(path);
        var handle = ImageFile.Open(resolved, "raw disk image", out long length);
        return new RawDiskImage(path, resolved, handle, length);
    }

    /// <inheritdoc />
    public override string Format => "raw";

    /// <inheritdoc />
    public override long Length => _length;

    /// <inheritdoc />
    public override int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset >= _length) return 0;
        if (destination.Length > _length - offset) destination = destination[..(int)(_length - offset)];
        int done = 0;
        while (done < destination.Length)
        {
            int n = RandomAccess.Read(_handle, destination[done..], offset + done);
            if (n <= 0)
                throw Error($"the file ends at byte {offset + done}, short of its length {_length} when it was opened (it shrank)",
                    "raw disk image", offset + done, ImageErrorKind.Truncated);
            done += n;
        }
        return destination.Length;
    }

    /// <inheritdoc />
    public override IReadOnlyList<(long Offset, long Length)>? GetAllocatedRanges(long offset, long length)
    {
        if (offset < 0 || length <= 0 || offset >= _length) return [];
        long end = Math.Min(_length, offset + length);
        return QueryDataRanges(_handle, offset, end);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _handle.Dispose();
        base.Dispose(disposing);
    }
}
