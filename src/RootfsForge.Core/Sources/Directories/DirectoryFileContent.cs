using Microsoft.Win32.SafeHandles;
using RootfsForge.IO;
using RootfsForge.Tree;

namespace RootfsForge.Sources.Directories;

/// <summary>A regular file of a <see cref="DirectorySource"/>, read with pread; its holes found with SEEK_DATA/SEEK_HOLE.</summary>
internal sealed class DirectoryFileContent : FileContent
{
    private readonly SafeFileHandle _handle;
    private readonly string _path;
    private readonly long _length;

    private DirectoryFileContent(SafeFileHandle handle, string path, long length)
    {
        _handle = handle;
        _path = path;
        _length = length;
    }

    /// <summary>
    /// Opens the file <paramref name="path"/> (a <see cref="TreePath"/>) under the directory <paramref name="root"/>
    /// without following any symlink on the way and without leaving the root (openat2 RESOLVE_BENEATH |
    /// RESOLVE_NO_SYMLINKS, and RESOLVE_NO_XDEV unless the walk crosses mount points). O_NONBLOCK keeps a file replaced by
    /// a FIFO since the walk from blocking the open; anything that is no longer a regular file is refused.
    /// <paramref name="rootHandle"/> is the walk's descriptor of the root; once the walk has closed it, the root is opened
    /// again by its path.
    /// </summary>
    public static DirectoryFileContent Open(SafeFileHandle rootHandle, byte[] root, string path, bool crossMountPoints)
    {
        SafeFileHandle handle;
        try
        {
            handle = OpenBeneath(rootHandle, path, crossMountPoints);
        }
        catch (ObjectDisposedException)
        {
            using var reopened = Posix.OpenAt(null, root, Posix.O_PATH | Posix.O_DIRECTORY);
            handle = OpenBeneath(reopened, path, crossMountPoints);
        }
        try
        {
            var st = Posix.Stat(handle);
            if (!st.IsRegular) throw Posix.Error("open", TreePath.Display(path) + " (no longer a regular file)", Posix.EINVAL);
            return new DirectoryFileContent(handle, TreePath.Display(path), st.Size);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static SafeFileHandle OpenBeneath(SafeFileHandle rootHandle, string path, bool crossMountPoints)
    {
        const int flags = Posix.O_RDONLY | Posix.O_NOCTTY | Posix.O_NOFOLLOW | Posix.O_NONBLOCK;
        ulong resolve = Posix.RESOLVE_BENEATH | Posix.RESOLVE_NO_SYMLINKS | Posix.RESOLVE_NO_MAGICLINKS
                        | (crossMountPoints ? 0 : Posix.RESOLVE_NO_XDEV);
        try
        {
            return Posix.OpenAt2(rootHandle, path, flags, resolve);
        }
        catch (IOException e) when (Posix.Errno(e) == Posix.ENOSYS)
        {
            // Kernels before 5.6 (or a seccomp filter) have no openat2: only the final component is not followed.
            return Posix.OpenAt(rootHandle, FileNameEncoding.GetBytes(path), flags);
        }
    }

    public override long Length => _length;

    // pread on a handle of its own: concurrent reads do not share a file position.
    internal override bool SupportsConcurrentReads => true;

    public override IReadOnlyList<DataSegment> GetDataSegments()
    {
        var result = new List<DataSegment>();
        long position = 0;
        while (position < _length)
        {
            long data = Posix.Seek(_handle, position, Posix.SEEK_DATA, out int errno);
            if (data < 0)
            {
                if (errno == Posix.ENXIO) break; // only a hole remains
                return _length == 0 ? [] : [new DataSegment(0, _length)]; // SEEK_DATA unsupported: everything is data
            }
            if (data >= _length) break;
            long hole = Posix.Seek(_handle, data, Posix.SEEK_HOLE, out _);
            if (hole < 0 || hole > _length) hole = _length;
            if (hole <= data) hole = _length; // defensive: always make progress
            result.Add(new DataSegment(data, hole - data));
            position = hole;
        }
        return result;
    }

    public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (offset >= _length) return new(0);
        var span = destination.Span;
        if (span.Length > _length - offset) span = span[..(int)(_length - offset)];
        // A local pread completes at once; there is nothing to wait for asynchronously.
        return new(Posix.ReadAt(_handle, span, offset, _path));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _handle.Dispose();
        base.Dispose(disposing);
    }
}
