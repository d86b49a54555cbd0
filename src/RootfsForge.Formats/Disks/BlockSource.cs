namespace RootfsForge.Disks;

/// <summary>
/// A read-only, random-access view of bytes: a disk image (raw or qcow2), a partition of one, or a filesystem's device.
/// Every member is safe to call from several threads at once; reads at different offsets may run in parallel.
/// </summary>
public abstract class BlockSource : IDisposable
{
    /// <summary>The size in bytes (for a disk image, its virtual size).</summary>
    public abstract long Length { get; }

    /// <summary>
    /// Reads up to <paramref name="destination"/>.Length bytes at <paramref name="offset"/>. Returns fewer only when the
    /// end of the source is reached (0 at or past the end). Unallocated ranges read as zeros.
    /// </summary>
    /// <exception cref="ImageFormatException">The underlying structures are corrupt.</exception>
    public abstract int ReadAt(long offset, Span<byte> destination);

    /// <summary>Reads exactly <paramref name="destination"/>.Length bytes at <paramref name="offset"/>.</summary>
    /// <exception cref="ImageFormatException">The range runs past the end of the source, or the data is corrupt.</exception>
    public void ReadExactlyAt(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > Length || destination.Length > Length - offset)
            throw new ImageFormatException(
                $"read of {destination.Length} bytes runs past the end of the {Length}-byte {Describe()}", Describe(), offset,
                kind: ImageErrorKind.Truncated);
        int done = 0;
        while (done < destination.Length)
        {
            int n = ReadAt(offset + done, destination[done..]);
            if (n <= 0)
                throw new ImageFormatException($"unexpected end of data after {done} bytes", Describe(), offset + done,
                    kind: ImageErrorKind.Truncated);
            done += n;
        }
    }

    /// <summary>
    /// Hints that the given range will be read soon, so that sources with expensive reads (compressed qcow2 clusters) can
    /// start decoding it in the background. The default does nothing.
    /// </summary>
    public virtual void Prefetch(long offset, long length)
    {
    }

    /// <summary>
    /// Returns the allocated ranges overlapping [offset, offset+length) in ascending order, or <c>null</c> when the source
    /// does not know (then everything counts as allocated). Ranges not returned read as zeros.
    /// </summary>
    public virtual IReadOnlyList<(long Offset, long Length)>? GetAllocatedRanges(long offset, long length) => null;

    /// <summary>A view of <paramref name="length"/> bytes starting at <paramref name="offset"/>; disposing it leaves this source open.</summary>
    public BlockSource Slice(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Length || length > Length - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"slice [{offset}, +{length}) is outside the {Length}-byte source");
        return new SlicedBlockSource(this, offset, length);
    }

    /// <summary>
    /// The bytes of the file at <paramref name="path"/> (a regular file or a block device), as they are: no format is
    /// probed, so a qcow2 file reads as its own bytes. Use <see cref="DiskImage.Open(string, DiskImageOptions?)"/> to read the disk an image holds.
    /// </summary>
    /// <exception cref="ImageFormatException">The path is not a regular file or block device.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static BlockSource OpenFile(string path) => RawDiskImage.OpenRaw(path);

    /// <summary>
    /// <paramref name="bytes"/> as a source (a filesystem image built or patched in memory). The memory is not copied:
    /// it must not change while the source is in use.
    /// </summary>
    public static BlockSource FromBytes(ReadOnlyMemory<byte> bytes) => new MemoryBlockSource(bytes);

    /// <summary>A seekable, read-only <see cref="Stream"/> over this source; disposing it leaves this source open.</summary>
    public Stream AsStream() => new BlockSourceStream(this);

    /// <summary>A short description for error messages, e.g. <c>qcow2 image ubuntu.img</c>.</summary>
    public virtual string Describe() => GetType().Name;

    /// <summary>Releases the underlying file handles.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases resources.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }
}
