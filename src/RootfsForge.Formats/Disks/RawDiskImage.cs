using Microsoft.Win32.SafeHandles;

namespace RootfsForge.Disks;

/// <summary>A raw disk image: the file's bytes are the disk. Reads are positional (<see cref="RandomAccess"/>), so parallel
/// readers never contend on a shared file position.</summary>
public sealed partial class RawDiskImage : DiskImage
{
    private readonly SafeFileHandle _handle;
    private readonly long _length;

    internal RawDiskImage(string path, SafeFileHandle handle) : base(path)
    {
        _handle = handle;
        _length = RandomAccess.GetLength(handle);
    }

    /// <summary>Opens a raw image without probing.</summary>
    public static RawDiskImage OpenRaw(string path)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        return new RawDiskImage(path, handle);
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
            {
                // The file shrank after it was opened: the rest reads as zeros rather than failing mid-stream.
                destination[done..].Clear();
                break;
            }
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
