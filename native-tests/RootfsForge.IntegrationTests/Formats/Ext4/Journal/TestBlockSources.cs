using Microsoft.Win32.SafeHandles;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Journal;

/// <summary>A raw image file as a <see cref="BlockSource"/> (read-only), for tests.</summary>
internal sealed class FileBlockSource : BlockSource
{
    private readonly SafeFileHandle _handle;
    private readonly long _length;

    public FileBlockSource(string path)
    {
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        _length = RandomAccess.GetLength(_handle);
    }

    public override long Length => _length;

    public override int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset >= _length) return 0;
        if (destination.Length > _length - offset) destination = destination[..(int)(_length - offset)];
        int done = 0;
        while (done < destination.Length)
        {
            int n = RandomAccess.Read(_handle, destination[done..], offset + done);
            if (n <= 0) break;
            done += n;
        }
        return done;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _handle.Dispose();
    }
}

/// <summary>Bytes in memory as a <see cref="BlockSource"/>, for corruption tests.</summary>
internal sealed class MemoryBlockSource(byte[] bytes) : BlockSource
{
    public override long Length => bytes.Length;

    public override int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset >= bytes.Length) return 0;
        int n = (int)Math.Min(destination.Length, bytes.Length - offset);
        bytes.AsSpan((int)offset, n).CopyTo(destination);
        return n;
    }
}
